#!/usr/bin/env python3
"""Runs the Helios worker (Pipelines/helios/worker.py) over worker protocol 2, as Spool would,
on tiny Helios checkpoints of each layout, and prints what a GPU host needs to know: the
time of each chunk, the peak GPU memory, how many GPUs the worker could see, and whether
FFmpeg has NVENC. Needs no Swift. Started by scripts/gpu-check.sh.

    gpu_check.py CHECKPOINTS_DIR [--gpu INDEX] [--size 640x384] [--frames 99]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "Pipelines", "helios", "worker.py")


def run_layout(layout, checkpoints, gpu, width, height, frames, device):
    work = tempfile.mkdtemp(prefix=f"spool-gpu-check-{layout}-")
    trace = os.path.join(work, "trace.jsonl")
    env = dict(os.environ, SPOOL_PROTOCOL="2", CUDA_VISIBLE_DEVICES=gpu, SPOOL_HELIOS_TRACE=trace,
               PYTHONUNBUFFERED="1")
    command = [sys.executable, WORKER, "--model", os.path.join(checkpoints, layout), "--device", device]
    started = time.monotonic()
    worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True, cwd=work)

    def next_event():
        line = worker.stdout.readline()
        if not line:
            worker.wait()
            sys.exit(f"{layout}: the worker exited with status {worker.returncode}:\n{worker.stderr.read()[-3000:]}")
        return json.loads(line), time.monotonic()

    event, at = next_event()
    if event.get("event") != "ready":
        sys.exit(f"{layout}: expected ready, got {event}")
    print(f"{layout}: {event['worker']} ready in {event['load_seconds']:.1f} s (pid {event['pid']})")
    results = []
    for job in ("first", "second"):
        job_dir = os.path.join(work, job)
        os.makedirs(job_dir)
        request = {"protocol": 2, "type": "job", "job_id": job, "attempt": 1, "prompt": "a red fox trots through snow",
                   "negative_prompt": None, "frames": frames, "width": width, "height": height, "fps": 24, "seed": 42,
                   "chunk_frames": 33, "overlap": 0, "work_dir": job_dir, "options": {}}
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()
        sent = time.monotonic()
        last = sent
        chunk_times = []
        while True:
            event, at = next_event()
            if event["event"] == "chunk":
                size = os.path.getsize(os.path.join(job_dir, event["file"]))
                assert size == event["frames"] * width * height * 3, f"chunk {event['index']} has {size} bytes"
                chunk_times.append(at - last)
                last = at
            elif event["event"] in ("failed", "cancelled"):
                sys.exit(f"{layout}: job {job} {event['event']}: {event.get('message')}")
            elif event["event"] == "done":
                break
        results.append((job, event, at - sent, chunk_times))
        shutil.rmtree(job_dir)
    worker.stdin.close()
    worker.wait(timeout=60)
    records = [json.loads(line) for line in open(trace)]
    jobs = {record["job_id"]: record for record in records if record["record"] == "job"}
    loads = sum(1 for record in records if record["record"] == "load")
    for job, done, seconds, chunk_times in results:
        record = jobs.get(job, {})
        peak = record.get("peak_memory_bytes")
        per_chunk = ", ".join(f"{t:.2f}" for t in chunk_times)
        print(f"{layout}: job {job}: {done['frames']} frames in {done['chunks']} chunks, {seconds:.2f} s; "
              f"per chunk {per_chunk} s; peak GPU memory "
              f"{'%.1f MiB' % (peak / 2**20) if peak is not None else 'n/a (CPU)'}; "
              f"GPUs visible to the worker: {record.get('visible_gpus')} ({record.get('gpu') or 'none'})")
    print(f"{layout}: model loads: {loads} for 2 jobs; worker exit status {worker.returncode}; "
          f"total {time.monotonic() - started:.1f} s")
    shutil.rmtree(work, ignore_errors=True)
    return loads == 1 and worker.returncode == 0 and all(r[3] for r in results)


def nvenc():
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return "no ffmpeg on PATH"
    encoders = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    names = [name for name in ("h264_nvenc", "hevc_nvenc", "av1_nvenc") if name in encoders]
    if not names:
        return "ffmpeg has no NVENC encoders"
    trial = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                            "testsrc2=size=640x384:rate=24", "-t", "2", "-c:v", "h264_nvenc", "-f", "null", "-"],
                           capture_output=True, text=True)
    if trial.returncode == 0:
        return f"ffmpeg has {', '.join(names)}; a 2 s 640x384 h264_nvenc encode worked"
    return f"ffmpeg has {', '.join(names)}, but encoding failed: {trial.stderr.strip()[-300:]}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints")
    parser.add_argument("--gpu", default="0", help="the GPU the worker gets (CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--size", default="640x384")
    parser.add_argument("--frames", type=int, default=99)
    parser.add_argument("--device", default=os.environ.get("SPOOL_HELIOS_DEVICE", "cuda"))
    arguments = parser.parse_args()
    width, height = (int(side) for side in arguments.size.split("x"))
    import torch
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count()} GPU(s) visible to this script: "
          + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    ok = True
    for layout in ("base", "mid", "distilled"):
        ok = run_layout(layout, arguments.checkpoints, arguments.gpu, width, height, arguments.frames,
                        arguments.device) and ok
    print(f"NVENC: {nvenc()}")
    print("gpu-check: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
