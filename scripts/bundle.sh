#!/usr/bin/env bash
# Builds the portable bundle: dist/spool-VERSION-linux-x86_64.tar.gz, which runs on a bare
# Debian 12 or Ubuntu 24.04 with nothing installed beyond glibc (issue 32).
#
#   scripts/bundle.sh            # build
#   SPOOL_BUNDLE_CACHE=DIR scripts/bundle.sh
#
# What takes long is kept in a cache folder ($SPOOL_BUNDLE_CACHE, else .build/bundle), so that
# another checkout on the same machine (CI's fresh clone) builds only what changed: FFmpeg in a
# folder named by a digest of its source version and configure line (about 5 minutes cold), and
# the static release build's scratch folder, whose dependencies SwiftPM then finds up to date
# (about 10 minutes cold; docs/bundle.md has the measured figures).
#   (it then checks with ldd that nothing outside the bundle but glibc is needed)
#
# What it holds (see docs/bundle.md):
# - bin/spool, stripped, the Swift runtime and Foundation linked statically, and
#   bin/spool-synthetic-worker, a link to it (spool runs the synthetic worker under that name:
#   a second executable would carry a second Swift runtime and Foundation, 57 MB); it finds the
#   libraries in lib/ through an rpath ($ORIGIN/../lib);
# - lib/: FFmpeg 5.1 built small from Debian's own source package (libavcodec, libavformat,
#   libavutil, libswscale: libx264 and NVENC, the decoders and demuxers the input library reads,
#   the MP4 muxer, PNG), with libx264 and zlib from Debian, and their licences in licences/;
# - bin/*.resources (the API's document and the dashboard, which SwiftPM keeps beside the executable);
# - Pipelines/ (the pipeline files and Python workers), README, BUNDLE (its version and build);
# - scripts/gpu-check.sh and its Python, which check a GPU host through this bundle's daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/SpoolCore/Spool.swift)
work=$root/.build/bundle
cache=${SPOOL_BUNDLE_CACHE:-$work}
mkdir -p "$work" "$cache" dist

need() { command -v "$1" >/dev/null || { echo "bundle.sh: $1 is missing; run scripts/setup-system.sh --bundle" >&2; exit 1; }; }
for tool in curl xz patchelf strip nasm pkg-config; do need "$tool"; done
for header in /usr/include/x264.h /usr/include/ffnvcodec/nvEncodeAPI.h; do
    [[ -f $header ]] || { echo "bundle.sh: $header is missing; run scripts/setup-system.sh --bundle" >&2; exit 1; }
done

# --- FFmpeg, small, from Debian's source package of the version the build links against ---
ffversion=$(dpkg-query -W -f='${source:Version}' libavcodec-dev)   # 7:5.1.9-0+deb12u1
upstream=${ffversion#*:}; upstream=${upstream%-*}                    # 5.1.9
debian=${ffversion#*:}                                               # 5.1.9-0+deb12u1
configure_flags=(
    --disable-everything --disable-programs --disable-doc --disable-static --enable-shared
    --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc --disable-network
    --disable-autodetect --enable-zlib --enable-gpl --enable-libx264 --enable-ffnvcodec --enable-nvenc
    --enable-encoder=libx264,h264_nvenc,png,aac
    --enable-decoder=h264,hevc,vp8,vp9,av1,mpeg4,mjpeg,png,webp,bmp,tiff,gif,prores,rawvideo
    --enable-parser=h264,hevc,vp8,vp9,av1,mpeg4video,mjpeg,png,webp,bmp,gif
    --enable-demuxer=mov,matroska,avi,gif,image_png_pipe,image_jpeg_pipe,image_webp_pipe,image_bmp_pipe,image_tiff_pipe
    --enable-muxer=mp4,mov
    --enable-protocol=file,pipe
)
key=$(printf '%s\n' "$ffversion" "${configure_flags[@]}" | sha256sum | cut -c1-16)
ffprefix=$cache/ffmpeg-$key
if [[ ! -f $ffprefix/.done ]]; then
    echo "bundle.sh: building FFmpeg $upstream small (Debian $debian) into $ffprefix"
    src=$cache/src-$debian
    mkdir -p "$src"
    pool=http://deb.debian.org/debian/pool/main/f/ffmpeg
    for file in "ffmpeg_$debian.dsc" "ffmpeg_$upstream.orig.tar.xz" "ffmpeg_$debian.debian.tar.xz"; do
        [[ -f $src/$file ]] || curl -fsSL -o "$src/$file" "$pool/$file" \
            || curl -fsSL -o "$src/$file" "http://deb.debian.org/debian-security/pool/updates/main/f/ffmpeg/$file"
    done
    # The tarballs must be the ones the .dsc names.
    (cd "$src" && sed -n '/^Checksums-Sha256:/,/^[A-Z]/p' "ffmpeg_$debian.dsc" | awk 'NF == 3 && $3 !~ /\.asc$/ {print $1 "  " $3}' | sha256sum -c --quiet)
    rm -rf "$src/tree" && mkdir -p "$src/tree"
    tar -xJf "$src/ffmpeg_$upstream.orig.tar.xz" -C "$src/tree" --strip-components=1
    tar -xJf "$src/ffmpeg_$debian.debian.tar.xz" -C "$src/tree"
    # Debian's own patches, in its order.
    if [[ -f $src/tree/debian/patches/series ]]; then
        while read -r patch; do
            [[ -z $patch || $patch == \#* ]] && continue
            patch -d "$src/tree" -p1 --quiet < "$src/tree/debian/patches/$patch"
        done < "$src/tree/debian/patches/series"
    fi
    rm -rf "$ffprefix"
    (cd "$src/tree" && ./configure --prefix="$ffprefix" --extra-version="spool-bundle-$key" "${configure_flags[@]}" > "$work/ffmpeg-configure.log" \
        && make -j"$(nproc)" > "$work/ffmpeg-make.log" 2>&1 && make install > /dev/null)
    cp "$src/tree/COPYING.GPLv2" "$src/tree/COPYING.LGPLv2.1" "$src/tree/LICENSE.md" "$ffprefix/"
    cp "$src/tree/debian/copyright" "$ffprefix/debian-copyright"
    touch "$ffprefix/.done"
fi

# --- spool: release, the Swift runtime and Foundation static ---
# A failed build must not leave the cache's older executable to be bundled.
if ! swift build -c release --static-swift-stdlib --scratch-path "$cache/swift" -Xlinker -rpath -Xlinker '$ORIGIN/../lib' \
        --product spool > "$work/swift-build.log" 2>&1; then
    grep -E "error:" "$work/swift-build.log" | head -20 >&2 || tail -20 "$work/swift-build.log" >&2
    echo "bundle.sh: building spool failed ($work/swift-build.log)" >&2
    exit 1
fi
grep -E "Build of|Compiling|Linking" "$work/swift-build.log" | tail -1

# --- the tree ---
name=spool-$version-linux-x86_64
stage=$work/stage/$name
rm -rf "$work/stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/licences"
cp "$cache/swift/release/spool" "$stage/bin/"
strip --strip-all "$stage/bin/spool"
ln -s spool "$stage/bin/spool-synthetic-worker"
# The modules' resources (the API's document, the dashboard), where Bundle.module looks: beside the executable.
cp -r "$cache"/swift/release/*.resources "$stage/bin/"
cp -P "$ffprefix"/lib/lib{avcodec,avformat,avutil,swscale}.so.* "$stage/lib/"
system=/usr/lib/x86_64-linux-gnu
# What FFmpeg, GRDB and the Swift runtime link beyond glibc: libx264, zlib, SQLite, the C++ runtime.
for lib in libx264.so.164 libz.so.1 libsqlite3.so.0 libstdc++.so.6 libgcc_s.so.1; do
    cp "$(readlink -f "$system/$lib" 2>/dev/null || readlink -f "/lib/x86_64-linux-gnu/$lib")" "$stage/lib/$lib"
done
strip --strip-unneeded "$stage"/lib/*.so*
for lib in "$stage"/lib/*.so*; do
    [[ -L $lib ]] || patchelf --set-rpath '$ORIGIN' "$lib"
done
# Licences: FFmpeg's (GPL, as built with libx264), x264's, zlib's, the GCC runtime's, Swift's.
cp "$ffprefix"/{COPYING.GPLv2,COPYING.LGPLv2.1,LICENSE.md} "$stage/licences/" && cp "$ffprefix/debian-copyright" "$stage/licences/ffmpeg-debian-copyright"
cp /usr/share/doc/libx264-164/copyright "$stage/licences/x264-copyright"
cp /usr/share/doc/zlib1g/copyright "$stage/licences/zlib-copyright"
cp /usr/share/doc/libsqlite3-0/copyright "$stage/licences/sqlite-copyright"
cp /usr/share/doc/libstdc++6/copyright "$stage/licences/gcc-runtime-copyright"
swiftroot=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
for file in "$swiftroot/share/swift/LICENSE.txt" "$swiftroot/../LICENSE.txt"; do
    [[ -f $file ]] && cp "$file" "$stage/licences/swift-LICENSE.txt" && break
done
cp "$root/LICENSE" "$stage/licences/spool-LICENSE" 2>/dev/null || true

# The pipelines and their Python workers, without caches.
cp -r "$root/Pipelines" "$stage/Pipelines"
find "$stage/Pipelines" -name __pycache__ -prune -exec rm -rf {} +
cp "$root/scripts/python-requirements.txt" "$stage/"
# The GPU host check, which runs this bundle's daemon: scripts/gpu-check.sh --bundle .
mkdir -p "$stage/scripts"
cp "$root"/scripts/{gpu-check.sh,gpu_check.py,gpu_check_bundle.py} "$stage/scripts/"
echo "$name, built $(date -u +%Y-%m-%dT%H:%MZ) from $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "a source tree"); FFmpeg $upstream (Debian $debian) small, $key" > "$stage/bin/BUNDLE"
cp "$root/scripts/bundle-README.md" "$stage/README.md"

# --- check: nothing outside the bundle but glibc ---
glibc='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|ld-linux-x86-64\.so\.2|/lib64/ld-linux-x86-64\.so\.2)$'
problems=0
for file in "$stage"/bin/spool "$stage"/lib/*.so*; do
    [[ -L $file ]] && continue
    while read -r line; do
        lib=$(awk '{print $1}' <<< "$line")
        where=$(awk '/=>/ {print $3}' <<< "$line")
        [[ -n $where && $where != "not" ]] && where=$(readlink -f "$where")
        [[ -z $lib ]] && continue
        if [[ $lib =~ $glibc ]]; then continue; fi
        if [[ $where != "$stage"/lib/* ]]; then
            echo "bundle.sh: $(basename "$file") needs $lib from ${where:-nowhere}, not from the bundle" >&2
            problems=1
        fi
    done < <(ldd "$file" 2>&1 | sed 's/^[[:space:]]*//')
done
[[ $problems == 0 ]] || exit 1

tar -C "$work/stage" -czf "dist/$name.tar.gz" "$name"
size=$(stat -c %s "dist/$name.tar.gz")
echo "dist/$name.tar.gz: $((size / 1024 / 1024)) MiB ($size bytes)"
if (( size > 60 * 1024 * 1024 )); then echo "bundle.sh: the bundle is over 60 MiB" >&2; exit 1; fi
