#!/usr/bin/env bash
# Runs the portable bundle where a user's GPU host would: a minimal Debian 12 root
# (debootstrap --variant=minbase: no Swift, no FFmpeg, no compiler), entered with chroot.
# There `spool serve` makes a synthetic job's MP4, which ffprobe, outside, checks frame by
# frame (issue 32). Needs root, debootstrap and ffprobe.
#
#   scripts/bundle-check.sh [dist/spool-VERSION-linux-x86_64.tar.gz] [--root DIR]
#
# The root is kept in .build/bundle/minroot (made once, about 45 s), the bundle extracted anew.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=""
root=$PWD/.build/bundle/minroot
while (( $# )); do
    case $1 in
        --root) root=$2; shift 2 ;;
        *) bundle=$1; shift ;;
    esac
done
[[ -n $bundle ]] || bundle=$(ls -t dist/spool-*-linux-x86_64.tar.gz | head -1)
[[ -f $bundle ]] || { echo "bundle-check.sh: no bundle; run scripts/bundle.sh" >&2; exit 1; }
(( EUID == 0 )) || { echo "bundle-check.sh: chroot needs root" >&2; exit 1; }
name=$(basename "$bundle" .tar.gz)

if [[ ! -x $root/bin/sh ]]; then
    echo "bundle-check.sh: making a minimal Debian 12 root in $root"
    rm -rf "$root.partial"
    debootstrap --variant=minbase bookworm "$root.partial" http://deb.debian.org/debian > "$root.log" 2>&1 \
        || { tail -20 "$root.log" >&2; exit 1; }
    mv "$root.partial" "$root"
fi
# Nothing of what the bundle carries may be there already.
for missing in /usr/bin/swift /usr/lib/x86_64-linux-gnu/libavcodec.so.59 /usr/lib/x86_64-linux-gnu/libx264.so.164 /usr/bin/ffmpeg; do
    [[ ! -e $root$missing ]] || { echo "bundle-check.sh: the root has $missing; it must not" >&2; exit 1; }
done

rm -rf "$root/opt/$name" "$root/tmp/spool-check"
mkdir -p "$root/opt" "$root/tmp/spool-check"
tar -xzf "$bundle" -C "$root/opt"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
daemon=""
cleanup() {
    [[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
}
trap cleanup EXIT
in_root() { chroot "$root" "$@"; }

in_root "/opt/$name/bin/spool" --version > "$root/tmp/spool-check/version.txt"
grep -q "^bundle: $name" "$root/tmp/spool-check/version.txt" || { cat "$root/tmp/spool-check/version.txt" >&2; exit 1; }
head -3 "$root/tmp/spool-check/version.txt"

port=$(( 20000 + RANDOM % 20000 ))
in_root "/opt/$name/bin/spool" serve --data /tmp/spool-check/data --gpus none --virtual-slots 1 \
    --listen "127.0.0.1:$port" --preset ultrafast --no-drop-folder > "$root/tmp/spool-check/serve.log" 2>&1 &
daemon=$!
for _ in $(seq 300); do
    grep -q "HTTP API on" "$root/tmp/spool-check/serve.log" && break
    kill -0 "$daemon" 2>/dev/null || { cat "$root/tmp/spool-check/serve.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "HTTP API on" "$root/tmp/spool-check/serve.log" || { echo "bundle-check.sh: the daemon did not start" >&2; cat "$root/tmp/spool-check/serve.log" >&2; exit 1; }

frames=72
in_root "/opt/$name/bin/spool" submit --prompt "a red fox in the snow" --frames "$frames" --size 320x192 --seed 7 \
    --wait --server "http://127.0.0.1:$port" > "$root/tmp/spool-check/submit.log" 2>&1 \
    || { cat "$root/tmp/spool-check/submit.log" "$root/tmp/spool-check/serve.log" >&2; exit 1; }
video=$(find "$root/tmp/spool-check/data/videos" -maxdepth 1 -name '*.mp4' | head -1)
[[ -f $video ]] || { echo "bundle-check.sh: no MP4" >&2; cat "$root/tmp/spool-check/serve.log" >&2; exit 1; }
# ffprobe, outside the root: every frame there, 24 FPS, H.264 by libx264, 320x192.
IFS=, read -r codec width height rate counted < <(ffprobe -v error -select_streams v:0 -count_frames \
    -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames -of csv=p=0 "$video")
echo "ffprobe: $codec ${width}x$height $rate, $counted frames"
[[ $codec == h264 && $width == 320 && $height == 192 && $rate == 24/1 && $counted == "$frames" ]] \
    || { echo "bundle-check.sh: the MP4 is not the $frames frames asked for" >&2; exit 1; }
# Sound: the shipped tone pipeline through the bundle's own AAC encoder, the track as long as the video.
in_root "/opt/$name/bin/spool" submit --pipeline synthetic-tone --prompt "a bell" --frames 48 --size 320x192 --seed 7 \
    --wait --json --server "http://127.0.0.1:$port" > "$root/tmp/spool-check/tone.json" 2> "$root/tmp/spool-check/tone.log" \
    || { cat "$root/tmp/spool-check/tone.log" "$root/tmp/spool-check/serve.log" >&2; exit 1; }
toned=$(ls -t "$root/tmp/spool-check/data/videos/"*.mp4 | head -1)
[[ $toned != "$video" ]] || { echo "bundle-check.sh: the tone job wrote no MP4" >&2; exit 1; }
IFS=, read -r acodec arate achannels aduration < <(ffprobe -v error -select_streams a:0 \
    -show_entries stream=codec_name,sample_rate,channels,duration -of csv=p=0 "$toned")
echo "ffprobe: sound $acodec $arate Hz, $achannels channels, $aduration s"
[[ $acodec == aac && $arate == 48000 && $achannels == 2 && $aduration == 2.000000 ]] \
    || { echo "bundle-check.sh: the tone job's MP4 has no 2 s AAC track" >&2; exit 1; }
echo "bundle-check.sh: $name runs in a minimal Debian 12 root: $frames frames, exact; sound through its AAC encoder"
