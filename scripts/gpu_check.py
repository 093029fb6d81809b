#!/usr/bin/env python3
"""Runs the Helios worker (Pipelines/helios/worker.py) over worker protocol 2, as Spool would,
and records what a GPU host needs to know. Needs no Swift. Started by scripts/gpu-check.sh.

    gpu_check.py TINY_CHECKPOINTS_DIR --out DIR [--gpu INDEX] [--size 640x384] [--frames 99]
                 [--full-size-frames 197 | --no-full-size]

1. Each tiny Helios layout (Base, Mid, Distilled): two jobs on one resident worker (the model
   loads once), each chunk's size checked.
2. A full-size Helios-Distilled with random weights (Pipelines/helios/full_size.py: the
   published 14.3 B transformer built on the GPU in bfloat16, a full Wan VAE, the real
   HeliosPyramidPipeline with its published 2,2,2 pyramid steps): a one-chunk warm-up job,
   then a measured one. Seconds per chunk, frames per second, peak GPU memory, GPU-seconds
   per video-second, and the GPU's own utilisation over the job as nvidia-smi sampled it.
   CUDA only: on a CPU (SPOOL_HELIOS_DEVICE=cpu) it is skipped, and the summary says so.
3. NVENC: whether the GPU has an H.264 encoder, as NVML reports it.

Writes DIR/gpu-check.json and DIR/summary.txt, and prints the summary.
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "Pipelines", "helios", "worker.py")
# Each family's worker, its trace variable, and the clip shape its tiny checkpoints run with.
FAMILIES = {
    "helios": {"worker": WORKER, "trace": "SPOOL_HELIOS_TRACE", "chunk_frames": 33, "overlap": 0},
    "wan": {"worker": os.path.join(ROOT, "Pipelines", "wan", "worker.py"), "trace": "SPOOL_WAN_TRACE",
            "chunk_frames": 33, "overlap": 1, "options": {"steps": "4"}},
    "ltx": {"worker": os.path.join(ROOT, "Pipelines", "ltx", "worker.py"), "trace": "SPOOL_LTX_TRACE",
            "chunk_frames": 33, "overlap": 9, "options": {"steps": "4"}},
    # Video and sound: the tiny vocoder makes 16 kHz stereo, which every chunk must carry.
    "ltx2": {"worker": os.path.join(ROOT, "Pipelines", "ltx2", "worker.py"), "trace": "SPOOL_LTX2_TRACE",
             "chunk_frames": 33, "overlap": 9, "options": {"steps": "4", "stg_scale": "0"},
             "audio": {"sample_rate": 16000, "channels": 2}},
}
FULL_SIZE = os.path.join(ROOT, "Pipelines", "helios", "full_size.py")
FPS = 24


class Failed(Exception):
    pass


def follow_nvidia_smi(gpu, query, samples):
    """Starts nvidia-smi printing `query` (a --query-gpu= or --query-compute-apps= option whose
    first field is the timestamp) every 100 ms, and a thread appending each line to `samples` as
    (unix time, number, ...). Returns the process (None without nvidia-smi)."""
    if not shutil.which("nvidia-smi"):
        return None
    process = subprocess.Popen(["nvidia-smi", f"--id={gpu}", query, "--format=csv,noheader,nounits", "-lms", "100"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read():
        for line in process.stdout:
            try:
                stamp, *values = (part.strip() for part in line.split(","))
                at = datetime.datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
                samples.append((at, *(float(value) for value in values)))
            except ValueError:
                continue

    threading.Thread(target=read, daemon=True).start()
    return process


class Sampler:
    """nvidia-smi's view of the GPU, every 100 ms: utilisation and memory in use, timestamped."""

    def __init__(self, gpu):
        self.samples = []  # (unix time, utilisation %, MiB used)
        self.process = follow_nvidia_smi(gpu, "--query-gpu=timestamp,utilization.gpu,memory.used", self.samples)

    def window(self, start, end):
        """GPU-busy seconds (utilisation integrated over time) and peak MiB between two unix times."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        if len(inside) < 2:
            return None
        busy = sum((b[0] - a[0]) * a[1] / 100 for a, b in zip(inside, inside[1:]))
        return {"samples": len(inside), "busy_seconds": round(busy, 2),
                "seconds": round(inside[-1][0] - inside[0][0], 2),
                "peak_memory_mib": max(sample[2] for sample in inside)}

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()


def run_worker(name, model, jobs, gpu, width, height, device, sampler=None, checkpoints=False, keep_state=None,
               family="helios"):
    """One resident worker serving `jobs` ([(job id, frames)] or [(job id, frames, resume)]) in
    turn; what each cost. With `checkpoints`, the worker announces a checkpoint after each chunk;
    `keep_state` (chunk, path) copies the state after that chunk of the first job to `path`."""
    shape = FAMILIES[family]
    work = tempfile.mkdtemp(prefix=f"spool-gpu-check-{name}-")
    trace = os.path.join(work, "trace.jsonl")
    env = dict(os.environ, SPOOL_PROTOCOL="2", CUDA_VISIBLE_DEVICES=gpu, PYTHONUNBUFFERED="1")
    env[shape["trace"]] = trace
    stderr = open(os.path.join(work, "stderr.txt"), "w+")
    started = time.monotonic()
    worker = subprocess.Popen([sys.executable, shape["worker"], "--model", model, "--device", device]
                              + (["--checkpoints", "on"] if checkpoints else []),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True,
                              cwd=work)

    def next_event():
        line = worker.stdout.readline()
        if not line:
            worker.wait()
            stderr.seek(0)
            raise Failed(f"{name}: the worker exited with status {worker.returncode}:\n{stderr.read()[-3000:]}")
        return json.loads(line), time.monotonic()

    try:
        event, _ = next_event()
        if event.get("event") != "ready":
            raise Failed(f"{name}: expected ready, got {event}")
        result = {"worker": event["worker"], "load_seconds": event["load_seconds"], "jobs": []}
        for entry in jobs:
            job, frames = entry[0], entry[1]
            resume = entry[2] if len(entry) > 2 else None
            job_dir = os.path.join(work, job)
            os.makedirs(job_dir)
            request = {"protocol": 2, "type": "job", "job_id": job, "attempt": 1,
                       "prompt": "a red fox trots through snow", "negative_prompt": None, "frames": frames,
                       "width": width, "height": height, "fps": FPS, "seed": 42,
                       "chunk_frames": shape["chunk_frames"], "overlap": shape["overlap"], "work_dir": job_dir,
                       "options": shape.get("options", {})}
            if resume:
                request["resume"] = resume
            if shape.get("audio"):
                request["audio"] = shape["audio"]
            digests, states = {}, {}
            wall_start = time.time()
            worker.stdin.write(json.dumps(request) + "\n")
            worker.stdin.flush()
            sent = last = time.monotonic()
            chunk_seconds = []
            while True:
                event, at = next_event()
                if event["event"] == "chunk":
                    path = os.path.join(job_dir, event["file"])
                    size = os.path.getsize(path)
                    if size != event["frames"] * width * height * 3:
                        raise Failed(f"{name}: chunk {event['index']} has {size} bytes for {event['frames']} frames")
                    with open(path, "rb") as handle:
                        digests[event["index"]] = hashlib.sha256(handle.read()).hexdigest()
                    os.unlink(path)
                    if shape.get("audio"):
                        sound = event.get("audio") or {}
                        needed = ((event["first_frame"] + event["frames"]) * shape["audio"]["sample_rate"] // FPS
                                  - event["first_frame"] * shape["audio"]["sample_rate"] // FPS)
                        sound_path = os.path.join(job_dir, sound.get("file", "missing"))
                        if sound.get("samples") != needed or not os.path.exists(sound_path) \
                                or os.path.getsize(sound_path) != needed * shape["audio"]["channels"] * 2:
                            raise Failed(f"{name}: chunk {event['index']}'s sound is not its frames' {needed} samples: {sound}")
                        os.unlink(sound_path)
                    chunk_seconds.append(round(at - last, 3))
                    last = at
                elif event["event"] == "checkpoint":
                    state = os.path.join(job_dir, event["state_file"])
                    states[event["after_chunk"]] = os.path.getsize(state)
                    if keep_state and keep_state[0] == event["after_chunk"] and not resume:
                        shutil.copyfile(state, keep_state[1])
                elif event["event"] in ("failed", "cancelled"):
                    raise Failed(f"{name}: job {job} {event['event']}: {event.get('message')}")
                elif event["event"] == "done":
                    break
            seconds = at - sent
            record = {"job": job, "frames": event["frames"], "chunks": event["chunks"], "seconds": round(seconds, 3),
                      "chunk_seconds": chunk_seconds, "video_seconds": round(event["frames"] / FPS, 3),
                      "frames_per_second": round(event["frames"] / seconds, 2),
                      "gpu_seconds_per_video_second": round(seconds / (event["frames"] / FPS), 3),
                      "chunk_sha256": digests, "state_bytes": states}
            if sampler:
                record["nvidia_smi"] = sampler.window(wall_start, time.time())
            result["jobs"].append(record)
            shutil.rmtree(job_dir)
        worker.stdin.close()
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    records = [json.loads(line) for line in open(trace)]
    by_job = {record["job_id"]: record for record in records if record["record"] == "job"}
    loads = [record for record in records if record["record"] == "load"]
    for record in result["jobs"]:
        traced = by_job.get(record["job"], {})
        record["generation_seconds"] = traced.get("seconds")
        peak = traced.get("peak_memory_bytes")
        record["peak_memory_gib"] = round(peak / 2**30, 2) if peak is not None else None
        record["visible_gpus"] = traced.get("visible_gpus")
        result["gpu"] = traced.get("gpu")
    result["model_loads"] = len(loads)
    result["transformer_parameters"] = loads[0].get("transformer_parameters") if loads else None
    result["random_weights"] = loads[0].get("random_weights") if loads else None
    result["exit_status"] = worker.returncode
    result["seconds"] = round(time.monotonic() - started, 1)
    shutil.rmtree(work, ignore_errors=True)
    return result


# NVENC through the driver's own library (libnvidia-encode), as FFmpeg's h264_nvenc opens it:
# API 11.1 (FFmpeg 5.1's nv-codec-headers), struct layouts from nvEncodeAPI.h. NVML's encoder
# capacity is no answer: an H200, which has no NVENC engine, reports 100 % there.
NVENC_PROBE = r"""
import ctypes, struct, sys
API = 11 | (1 << 24)
def version(n): return API | (n << 16) | (7 << 28)
cuda = ctypes.CDLL("libcuda.so.1")
device, context = ctypes.c_int(), ctypes.c_void_p()
assert cuda.cuInit(0) == 0 and cuda.cuDeviceGet(ctypes.byref(device), 0) == 0
assert cuda.cuCtxCreate_v2(ctypes.byref(context), 0, device) == 0
try:
    library = ctypes.CDLL("libnvidia-encode.so.1")
except OSError as error:
    print(f"missing {error}"); sys.exit(0)
newest = ctypes.c_uint32()
library.NvEncodeAPIGetMaxSupportedVersion(ctypes.byref(newest))
functions = (ctypes.c_uint8 * (8 + 8 * 400))()
struct.pack_into("<I", functions, 0, version(2))
status = library.NvEncodeAPICreateInstance(functions)
if status:
    print(f"instance {status}"); sys.exit(0)
pointer = lambda index: struct.unpack_from("<Q", functions, 8 + 8 * index)[0]
open_session = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))(pointer(29))
params = (ctypes.c_uint8 * 1552)()
struct.pack_into("<IIQQI", params, 0, version(1), 1, context.value, 0, API)
encoder = ctypes.c_void_p()
status = open_session(params, ctypes.byref(encoder))
if status:
    print(f"open {status} {newest.value >> 4}.{newest.value & 15}"); sys.exit(0)
count = ctypes.c_uint32()
ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32))(pointer(1))(encoder, ctypes.byref(count))
ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(pointer(27))(encoder)
print(f"codecs {count.value} {newest.value >> 4}.{newest.value & 15}")
"""
NVENC_STATUS = {1: "NV_ENC_ERR_NO_ENCODE_DEVICE", 2: "NV_ENC_ERR_UNSUPPORTED_DEVICE",
                3: "NV_ENC_ERR_INVALID_ENCODERDEVICE", 4: "NV_ENC_ERR_INVALID_DEVICE"}


def nvenc(gpu):
    """Whether the GPU can open an NVENC encode session, asked of the driver in a child process
    (a crash there says nothing about Spool)."""
    probe = subprocess.run([sys.executable, "-c", NVENC_PROBE], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, CUDA_VISIBLE_DEVICES=gpu))
    words = probe.stdout.split()
    if probe.returncode != 0 or not words:
        return {"available": None, "reason": f"the NVENC probe failed (status {probe.returncode}): "
                                             f"{(probe.stderr or probe.stdout).strip()[-300:]}"}
    if words[0] == "codecs":
        return {"available": int(words[1]) > 0, "codecs": int(words[1]), "driver_api": words[2],
                "reason": f"an NVENC session opened, {words[1]} codecs"}
    if words[0] == "open":
        code = int(words[1])
        return {"available": False, "status": code,
                "reason": f"this GPU has no NVENC: the driver (NVENC API {words[2]}) refuses an encode session with "
                          f"{NVENC_STATUS.get(code, code)}; Spool encodes with libx264 on the CPU here"}
    return {"available": False, "reason": f"NVENC is not usable here: {probe.stdout.strip()}"}


def write_report(report, failed, started, summary, out):
    """Sets the verdict and the time taken, writes OUT/gpu-check.json and OUT/summary.txt (made by
    `summary`), and prints the summary."""
    report["verdict"] = "FAILED" if failed else "passed"
    report["seconds"] = round(time.monotonic() - started, 1)
    text = summary(report)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpu-check.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    with open(os.path.join(out, "summary.txt"), "w") as handle:
        handle.write(text + "\n")
    print(text)


def summary(report):
    lines = [f"gpu-check: {report['verdict']} ({report['seconds']:.0f} s); {report['torch']}"]
    for name, result in report["tiny"].items():
        if "error" in result:
            lines.append(f"tiny {name}: FAILED: {result['error']}")
            continue
        jobs = "; ".join(f"{job['frames']} frames in {job['seconds']:.2f} s" for job in result["jobs"])
        lines.append(f"tiny {name}: {result['worker']}, {result['model_loads']} load for {len(result['jobs'])} jobs: {jobs}")
    full = report["full_size"]
    if "skipped" in full:
        lines.append(f"full-size Helios-Distilled: skipped: {full['skipped']}")
    elif "error" in full:
        lines.append(f"full-size Helios-Distilled: FAILED: {full['error']}")
    else:
        job = full["jobs"][-1]
        steady = job["chunk_seconds"][1:] or job["chunk_seconds"]
        lines.append(f"full-size Helios-Distilled ({full['transformer_parameters'] / 1e9:.2f} B parameters, "
                     f"random weights, {report['size']}, {full['gpu']}): built and loaded in {full['load_seconds']:.1f} s")
        lines.append(f"  {job['frames']} frames ({job['video_seconds']:.1f} s of video) in {job['chunks']} chunks, "
                     f"{job['seconds']:.1f} s: {job['frames_per_second']:.1f} frames/s, "
                     f"{job['gpu_seconds_per_video_second']:.2f} GPU-s per video-s")
        lines.append(f"  seconds per chunk: first {job['chunk_seconds'][0]:.2f} (amplified, double steps), "
                     f"then {sum(steady) / len(steady):.2f} mean ({min(steady):.2f} to {max(steady):.2f})")
        lines.append(f"  peak GPU memory {job['peak_memory_gib']} GiB (PyTorch's allocator)")
        smi = job.get("nvidia_smi")
        if smi:
            lines.append(f"  nvidia-smi over the job: {smi['busy_seconds']:.1f} GPU-busy s of {smi['seconds']:.1f} s "
                         f"({100 * smi['busy_seconds'] / max(smi['seconds'], 1e-9):.0f} %), "
                         f"peak {smi['peak_memory_mib'] / 1024:.1f} GiB in use; the job's GPU-seconds "
                         f"(its slot time) {job['seconds']:.1f}")
    resume = full.get("resume") if isinstance(full, dict) else None
    if resume:
        lines.append(f"  resumed after chunk {resume['after_chunk']}: {resume['chunks_identical']} of "
                     f"{resume['chunks_compared']} later chunks byte-identical to the uninterrupted run's; "
                     f"{resume['resumed_seconds']:.1f} s against {resume['uninterrupted_seconds']:.1f} s; "
                     f"state {resume['state_bytes_per_checkpoint']} bytes a checkpoint")
    encoder = report["nvenc"]
    lines.append("NVENC: " + encoder.get("reason", "not checked"))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", help="the tiny checkpoints (make_tiny.py --all)")
    parser.add_argument("--out", required=True, help="folder for gpu-check.json and summary.txt")
    parser.add_argument("--gpu", default="0", help="the GPU the worker gets (CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--size", default="640x384")
    parser.add_argument("--frames", type=int, default=99, help="frames of each tiny job")
    parser.add_argument("--full-size-frames", type=int, default=197,
                        help="frames of the measured full-size job (197: 6 chunks, 8.2 s)")
    parser.add_argument("--no-full-size", action="store_true")
    parser.add_argument("--wan", help="tiny Wan checkpoints (Pipelines/wan/make_tiny.py --all), run as the Helios ones")
    parser.add_argument("--ltx", help="the tiny LTX-Video checkpoint (Pipelines/ltx/make_tiny.py --all)")
    parser.add_argument("--ltx2", help="the tiny LTX-2 checkpoint (Pipelines/ltx2/make_tiny.py --all)")
    parser.add_argument("--no-tiny", action="store_true", help="skip the tiny checkpoints")
    parser.add_argument("--resume-after", type=int, default=None,
                        help="also resume the measured full-size job after this chunk from its checkpoint, and compare")
    parser.add_argument("--device", default=os.environ.get("SPOOL_HELIOS_DEVICE", "cuda"))
    arguments = parser.parse_args()
    width, height = (int(side) for side in arguments.size.split("x"))
    started = time.monotonic()
    import torch

    report = {"torch": f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
                       f"{torch.cuda.device_count()} GPU(s) visible to this script",
              "size": arguments.size, "device": arguments.device, "tiny": {}}
    tiny = [("helios", layout, os.path.join(arguments.checkpoints, layout)) for layout in ("base", "mid", "distilled")]
    if arguments.wan:
        tiny += [("wan", f"wan-{layout}", os.path.join(arguments.wan, layout)) for layout in ("t2v", "ti2v")]
    if arguments.ltx:
        tiny.append(("ltx", "ltx-video", os.path.join(arguments.ltx, "ltx")))
    if arguments.ltx2:
        tiny.append(("ltx2", "ltx2", os.path.join(arguments.ltx2, "ltx2")))
    for family, layout, folder in () if arguments.no_tiny else tiny:
        # A T2V Wan makes one clip: its jobs stay within it.
        frames = 33 if layout == "wan-t2v" else arguments.frames
        try:
            result = run_worker(layout, folder, [("first", frames), ("second", frames)],
                                arguments.gpu, width, height, arguments.device, family=family)
            if result["model_loads"] != 1 or result["exit_status"] != 0:
                result["error"] = f"{result['model_loads']} loads, exit status {result['exit_status']}"
        except Failed as error:
            result = {"error": str(error)}
        report["tiny"][layout] = result
        print(f"tiny {layout}: {'FAILED' if 'error' in result else 'ok'} ({result.get('seconds', 0)} s)", flush=True)
    if arguments.device != "cuda":
        report["full_size"] = {"skipped": f"the device is {arguments.device}; a 14 B transformer needs a GPU"}
    elif arguments.no_full_size:
        report["full_size"] = {"skipped": "--no-full-size"}
    else:
        folder = tempfile.mkdtemp(prefix="spool-helios-full-")
        sampler = Sampler(arguments.gpu)
        try:
            subprocess.run([sys.executable, FULL_SIZE, folder], check=True, stdout=subprocess.DEVNULL)
            jobs = [("warm-up", 33), ("measured", arguments.full_size_frames)]
            after = arguments.resume_after
            state = os.path.join(folder, "kept-state.bin")
            if after is not None:
                # The measured job again, resumed after chunk `after` from its own checkpoint.
                jobs.append(("resumed", arguments.full_size_frames,
                             {"after_chunk": after, "first_frame": 33 * (after + 1), "state_file": state}))
            report["full_size"] = run_worker("full-size", folder, jobs, arguments.gpu, width, height, arguments.device,
                                             sampler, checkpoints=after is not None, keep_state=(after, state))
            if after is not None:
                measured, resumed = report["full_size"]["jobs"][1], report["full_size"]["jobs"][2]
                later = [index for index in measured["chunk_sha256"] if int(index) > after]
                same = [index for index in later if measured["chunk_sha256"][index] == resumed["chunk_sha256"].get(index)]
                report["full_size"]["resume"] = {
                    "after_chunk": after, "chunks_compared": len(later), "chunks_identical": len(same),
                    "state_bytes_per_checkpoint": measured["state_bytes"].get(after),
                    "resumed_seconds": resumed["seconds"], "uninterrupted_seconds": measured["seconds"]}
        except (Failed, subprocess.CalledProcessError) as error:
            report["full_size"] = {"error": str(error)}
        finally:
            sampler.stop()
            shutil.rmtree(folder, ignore_errors=True)
        print(f"full-size: {'FAILED' if 'error' in report['full_size'] else 'ok'}", flush=True)
    report["nvenc"] = nvenc(arguments.gpu) if arguments.device == "cuda" else {"available": None, "reason": "not on a GPU"}
    failed = any("error" in result for result in report["tiny"].values()) or "error" in report["full_size"]
    write_report(report, failed, started, summary, arguments.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
