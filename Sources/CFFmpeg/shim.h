#ifndef SPOOL_CFFMPEG_SHIM_H
#define SPOOL_CFFMPEG_SHIM_H

// FFmpeg's function-like macros and some constants do not import into Swift.
// Each is re-exported here as a `spool_`-prefixed static inline function or constant,
// in the style of swift-nio's CNIOLinux.

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/// AVERROR(e): a POSIX errno as an FFmpeg error code.
static inline int spool_averror(int posix_errno) { return AVERROR(posix_errno); }

/// AVERROR(EAGAIN): the encoder wants input before it can give output.
static inline int spool_averror_eagain(void) { return AVERROR(EAGAIN); }

/// AVERROR_EOF: the encoder is fully drained.
static inline int spool_averror_eof(void) { return AVERROR_EOF; }

/// AVERROR_ENCODER_NOT_FOUND.
static inline int spool_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }

/// AV_NOPTS_VALUE: no timestamp.
static inline int64_t spool_nopts_value(void) { return AV_NOPTS_VALUE; }

/// AVFMT_GLOBALHEADER: the muxer wants codec extradata in the container header.
static inline int spool_avfmt_globalheader(void) { return AVFMT_GLOBALHEADER; }

/// AVFMT_NOFILE: the muxer opens no file of its own.
static inline int spool_avfmt_nofile(void) { return AVFMT_NOFILE; }

/// AV_CODEC_FLAG_GLOBAL_HEADER.
static inline int spool_codec_flag_global_header(void) { return AV_CODEC_FLAG_GLOBAL_HEADER; }

/// AVIO_FLAG_WRITE.
static inline int spool_avio_flag_write(void) { return AVIO_FLAG_WRITE; }

/// SWS_BICUBIC: the scaler ffmpeg's CLI uses by default, so both produce the same pixels.
static inline int spool_sws_bicubic(void) { return SWS_BICUBIC; }

/// av_err2str() is a macro over a compound literal; this writes into the caller's buffer.
static inline const char *spool_av_error_string(int code, char *buffer, size_t size) {
    av_strerror(code, buffer, size);
    return buffer;
}

#endif
