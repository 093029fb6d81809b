#!/usr/bin/env python3
"""The GPU host check through the portable bundle's daemon, as a user would run it (issue 32).
Started by `scripts/gpu-check.sh --bundle dist/spool-VERSION-linux-x86_64.tar.gz`.

    gpu_check_bundle.py BUNDLE_DIR --helios DIR --wan DIR --ltx DIR --ltx2 DIR --out DIR [--device cuda|cpu]
                        [--size 640x384] [--full-size-frames 197 | --no-full-size]

BUNDLE_DIR is the extracted bundle. The bundled `spool serve --gpus auto` runs, over HTTP on
loopback, with the bundle's own pipeline files and one more file per checkpoint checked:
1. every shipped model family's tiny checkpoints (Helios Base, Mid and Distilled; Wan T2V and
   TI2V; LTX-Video; LTX-2, with its sound): a job each, submitted with the bundled `spool submit`, followed over the job's
   event stream, its MP4 read back box by box (no FFmpeg is needed on the host; where ffprobe is
   there it is asked too, and must agree);
2. on CUDA, a full-size Helios-Distilled with random weights (Pipelines/helios/full_size.py: the
   published 14.3 B transformer, built on the GPU in bfloat16): a one-chunk warm-up job, then a
   measured one. Seconds per chunk (as the daemon's event stream delivered the chunks), frames
   per second, peak GPU memory, GPU-seconds per video-second, Spool's own overhead (the job's
   slot time less the worker's generation time), and what nvidia-smi saw of the worker process
   over the job against the GPU-seconds Spool recorded;
3. NVENC: where the GPU has it, a job encoded by h264_nvenc through the bundle's FFmpeg; where it
   has none (H100, H200), the driver's refusal, said.
Then SIGTERM, and the daemon must stop. Writes DIR/gpu-check.json and DIR/summary.txt.
"""

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_check  # noqa: E402  (the Sampler, the NVENC probe, the full-size builder's path)

FPS = 24
PROMPT = "a red fox trots through snow"


class Failed(Exception):
    pass


# --- MP4, read without FFmpeg ---

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf", b"mvex"}


def boxes(data, start=0, end=None):
    """(type, payload start, payload end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise Failed(f"the MP4 has a broken {kind!r} box at byte {at}")
        yield kind, at + header, at + size
        at += size


def mp4_video(path):
    """The video track of an MP4: codec, width, height, frames, frames per second, audio tracks."""
    with open(path, "rb") as handle:
        data = handle.read()
    tracks, fragment_samples = [], 0

    def walk(start, end, track):
        nonlocal fragment_samples
        for kind, body, stop in boxes(data, start, end):
            if kind == b"trak":
                track = {}
                tracks.append(track)
                walk(body, stop, track)
                continue
            if kind in CONTAINERS:
                walk(body, stop, track)
            elif kind == b"hdlr" and track is not None:
                track["handler"] = data[body + 8:body + 12].decode("latin-1")
            elif kind == b"tkhd" and track is not None:
                track["width"] = struct.unpack_from(">I", data, stop - 8)[0] >> 16
                track["height"] = struct.unpack_from(">I", data, stop - 4)[0] >> 16
            elif kind == b"mdhd" and track is not None:
                version = data[body]
                track["timescale"] = struct.unpack_from(">I", data, body + (20 if version == 1 else 12))[0]
            elif kind == b"stsd" and track is not None:
                track["codec"] = data[body + 12:body + 16].decode("latin-1")
            elif kind == b"stsz" and track is not None:
                track["samples"] = struct.unpack_from(">I", data, body + 8)[0]
            elif kind == b"stts" and track is not None:
                count = struct.unpack_from(">I", data, body + 4)[0]
                entries = [struct.unpack_from(">II", data, body + 8 + 8 * i) for i in range(count)]
                track["duration"] = sum(samples * delta for samples, delta in entries)
                track["deltas"] = sorted({delta for _, delta in entries})
            elif kind == b"trun":
                fragment_samples += struct.unpack_from(">I", data, body + 4)[0]

    walk(0, len(data), None)
    video = [track for track in tracks if track.get("handler") == "vide"]
    if len(video) != 1:
        raise Failed(f"{path}: {len(video)} video tracks")
    track = video[0]
    frames = track.get("samples", 0) or fragment_samples
    rate = None
    if track.get("duration") and track.get("timescale"):
        rate = round(track["samples"] * track["timescale"] / track["duration"], 3)
    return {"codec": track.get("codec"), "width": track.get("width"), "height": track.get("height"),
            "frames": frames, "fps": rate, "audio_tracks": sum(t.get("handler") == "soun" for t in tracks),
            "bytes": len(data)}


def ffprobe_frames(path):
    """ffprobe's count of decoded frames, where ffprobe is installed (never on a bare GPU host)."""
    if not shutil.which("ffprobe"):
        return None
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", path], capture_output=True, text=True)
    return int(probe.stdout.strip()) if probe.returncode == 0 and probe.stdout.strip().isdigit() else None


# --- the daemon ---

class Daemon:
    """The bundled `spool serve`, its log in the work folder, its URL read from that log."""

    def __init__(self, bundle, work, pipelines, extra=()):
        self.bundle, self.work = bundle, work
        os.makedirs(work, exist_ok=True)
        self.log_path = os.path.join(work, "serve.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [os.path.join(bundle, "bin", "spool"), "serve", "--data", os.path.join(work, "data"), "--gpus", "auto",
             "--pipelines", pipelines, "--listen", "127.0.0.1:0", "--preset", "ultrafast", "--no-drop-folder",
             *extra], stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, SPOOL_SERVER=""))
        self.url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = re.search(r"HTTP API on (http://\S+)", self.text())
            if found:
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                raise Failed(f"the bundled daemon exited with status {self.process.returncode}:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        raise Failed(f"the bundled daemon did not listen within 120 s:\n{self.text()[-3000:]}")

    def text(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.load(response)

    def submit(self, pipeline, frames, size, options=None, sound=False):
        """One job through the bundled CLI, followed over its event stream to the end: the final
        job resource, and when each chunk reached the daemon (seconds after submission)."""
        command = [os.path.join(self.bundle, "bin", "spool"), "submit", "--pipeline", pipeline, "--prompt", PROMPT,
                   "--frames", str(frames), "--size", size, "--seed", "42", "--json", "--server", self.url]
        for key, value in (options or {}).items():
            command += ["--option", f"{key}={value}"]
        submitted = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, SPOOL_SERVER=""))
        if submitted.returncode != 0:
            raise Failed(f"spool submit --pipeline {pipeline} failed: {submitted.stderr.strip()[-2000:]}")
        job = json.loads(submitted.stdout)
        sent = time.monotonic()
        chunks, final = {}, None
        request = urllib.request.Request(f"{self.url}/v1/jobs/{job['id']}/events", headers={"Accept": "text/event-stream"})
        with urllib.request.urlopen(request, timeout=1800) as stream:
            event = None
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "chunk":
                    chunks[json.loads(line[6:])["index"]] = round(time.monotonic() - sent, 3)
                elif line.startswith("data: ") and event == "state":
                    resource = json.loads(line[6:])
                    if resource["state"] in ("succeeded", "failed", "cancelled"):
                        final = resource
                        break
        if final is None:
            raise Failed(f"{pipeline}: the event stream ended before the job did")
        # The stream's last state can come before the resource's last fields are written.
        final = self.get(f"/v1/jobs/{job['id']}")
        if final["state"] != "succeeded":
            raise Failed(f"{pipeline}: job {job['id']} {final['state']}: {final.get('error')}")
        width, height = (int(side) for side in size.split("x"))
        video = mp4_video(final["videoPath"])
        problems = []
        if video["frames"] != frames:
            problems.append(f"{video['frames']} frames, not {frames}")
        if (video["width"], video["height"]) != (width, height):
            problems.append(f"{video['width']}x{video['height']}, not {size}")
        if video["codec"] != "avc1":
            problems.append(f"codec {video['codec']}, not avc1 (H.264)")
        if video["fps"] != FPS:
            problems.append(f"{video['fps']} frames a second, not {FPS}")
        if video["audio_tracks"] != (1 if sound else 0):
            problems.append(f"{video['audio_tracks']} audio tracks, not {1 if sound else 0}")
        probed = ffprobe_frames(final["videoPath"])
        if probed is not None and probed != frames:
            problems.append(f"ffprobe decodes {probed} frames, not {frames}")
        video["ffprobe_frames"] = probed
        if problems:
            raise Failed(f"{pipeline}: the MP4 {final['videoPath']} has " + "; ".join(problems))
        return final, chunks, video

    def stop(self):
        """SIGTERM, as a service manager sends it; the daemon must end by itself."""
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise Failed(f"the bundled daemon ignored SIGTERM for 120 s:\n{self.text()[-2000:]}")
        self.log.close()
        return status


def pipeline_file(folder, name, worker, model, device, chunk_frames, overlap, size, multiple_of=None,
                  max_frames=1440, options=None, job_options=(), environment=None, startup=900, audio=None):
    definition = {
        "name": name,
        "description": f"gpu-check: {model}",
        "command": [sys.executable, "{pipelines}/" + worker, "--model", model, "--device", device],
        "environment": {"OMP_NUM_THREADS": "2", **(environment or {})},
        "chunking": {"frames": chunk_frames, "overlap": overlap, "overlapPolicy": "drop"},
        "sizes": {"default": size, **({"multipleOf": multiple_of} if multiple_of else {"allowed": [size]})},
        "maxFrames": max_frames,
        "requiresCUDA": device == "cuda",
        "resident": True,
        "options": options or {},
        "jobOptions": list(job_options),
        "timeouts": {"startupSeconds": startup, "stallSeconds": 600, "cancelSeconds": 30},
        **({"audio": audio} if audio else {}),
    }
    with open(os.path.join(folder, name + ".json"), "w") as handle:
        json.dump(definition, handle, indent=2)


def tiny_jobs(arguments):
    """Every tiny checkpoint's pipeline (pipeline_file's arguments) and the job it runs (frames).
    On the CPU the sizes and clips are the tests'."""
    cpu = arguments.device == "cpu"
    size = arguments.size

    def job(name, worker, model, chunk, overlap, size, multiple, frames, max_frames=1440, options=None, audio=None):
        return {"name": name, "worker": worker, "model": model, "chunk_frames": chunk, "overlap": overlap, "size": size,
                "multiple_of": multiple, "frames": frames, "max_frames": max_frames, "options": options or {"steps": "2"},
                "audio": audio}

    jobs = [job(f"check-helios-{layout}", "helios/worker.py", os.path.join(arguments.helios, layout), 33, 0,
                "128x64" if cpu else size, None, 40 if cpu else 99,
                options={"pyramid_steps": "1,1,1"} if layout != "base" else None)
            for layout in ("base", "mid", "distilled")]
    wan_clip, wan_size = (9, "64x48") if cpu else (33, size)
    jobs.append(job("check-wan-t2v", "wan/worker.py", os.path.join(arguments.wan, "t2v"), wan_clip, 0, wan_size, 16,
                    wan_clip, max_frames=wan_clip))
    jobs.append(job("check-wan-ti2v", "wan/worker.py", os.path.join(arguments.wan, "ti2v"), wan_clip, 1, wan_size, 16,
                    2 * wan_clip - 1))
    ltx_clip, ltx_size = (17, "96x64") if cpu else (33, size)
    jobs.append(job("check-ltx-video", "ltx/worker.py", os.path.join(arguments.ltx, "ltx"), ltx_clip, 9, ltx_size, 32,
                    2 * ltx_clip - 9))
    # Video and sound: the tiny vocoder's 16 kHz stereo, an AAC track in the MP4.
    jobs.append(job("check-ltx2", "ltx2/worker.py", os.path.join(arguments.ltx2, "ltx2"), ltx_clip, 9, ltx_size, 32,
                    2 * ltx_clip - 9, options={"steps": "2", "stg_scale": "0"},
                    audio={"sampleRate": 16000, "channels": 2}))
    return jobs


class ProcessSampler(gpu_check.Sampler):
    """nvidia-smi's utilisation samples, and beside them which processes held a compute context
    (every 100 ms): the worker's time on the GPU as the driver saw it."""

    def __init__(self, gpu):
        super().__init__(gpu)
        self.apps = []  # (unix time, pid, MiB)
        self.apps_process = gpu_check.follow_nvidia_smi(gpu, "--query-compute-apps=timestamp,pid,used_memory", self.apps)

    def process_seconds(self, pid, start, end):
        """Seconds within [start, end] that `pid` held the GPU, from consecutive samples."""
        times = sorted({at for at, seen, _ in self.apps if seen == pid and start <= at <= end})
        return round(sum(b - a for a, b in zip(times, times[1:]) if b - a < 1.0), 2) if len(times) > 1 else None

    def stop(self):
        super().stop()
        if self.apps_process:
            self.apps_process.terminate()
            self.apps_process.wait()


def parse_time(text):
    import datetime
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def prepare_full_size(pipelines, arguments, work):
    """The full-size checkpoint folder (configuration only: the worker builds the weights on the
    GPU) and its pipeline file, whose worker writes a trace; the trace's path."""
    folder = os.path.join(work, "helios-full")
    subprocess.run([sys.executable, gpu_check.FULL_SIZE, folder], check=True, stdout=subprocess.DEVNULL)
    trace = os.path.join(work, "helios-full-trace.jsonl")
    pipeline_file(pipelines, "check-helios-full", "helios/worker.py", folder, "cuda", 33, 0, arguments.size,
                  environment={"SPOOL_HELIOS_TRACE": trace})
    return trace


def full_size(daemon, arguments, trace):
    """The full-size Helios-Distilled through the daemon: a one-chunk warm-up job (the model
    loads), then the measured job, with nvidia-smi sampling beside it."""
    sampler = ProcessSampler(arguments.gpu)
    try:
        warm, _, _ = daemon.submit("check-helios-full", 33, arguments.size)
        job, chunks, video = daemon.submit("check-helios-full", arguments.full_size_frames, arguments.size)
        gpus = daemon.get("/v1/gpus")
    finally:
        sampler.stop()
    records = [json.loads(line) for line in open(trace)]
    traced = {record["job_id"]: record for record in records if record["record"] == "job"}
    load = next((record for record in records if record["record"] == "load"), {})
    worker = traced.get(job["id"], {})
    seconds_per_chunk = [round(chunks[i] - chunks[i - 1], 3) for i in sorted(chunks) if i - 1 in chunks]
    video_seconds = job["progress"]["framesTotal"] / FPS
    started, generated = parse_time(job["timings"].get("startedAt")), parse_time(job["timings"].get("generatedAt"))
    slot = next((slot for slot in gpus.get("slots", []) if slot.get("workerPid")), {})
    smi = sampler.window(started, generated) if started and generated else None
    if smi is not None and slot.get("workerPid"):
        smi["worker_seconds_on_gpu"] = sampler.process_seconds(slot["workerPid"], started, generated)
    return {
        "transformer_parameters": load.get("transformer_parameters"), "random_weights": load.get("random_weights"),
        "load_seconds": warm.get("loadSeconds"), "gpu": worker.get("gpu"), "frames": video["frames"],
        "chunks": job["progress"]["chunksDone"], "video_seconds": round(video_seconds, 3),
        "first_chunk_seconds": job["timings"].get("timeToFirstChunk"),
        "seconds_per_chunk": seconds_per_chunk,
        "generation_seconds": job["timings"].get("generationTime"),
        "worker_generation_seconds": worker.get("seconds"),
        "frames_per_second": round(video["frames"] / worker["seconds"], 2) if worker.get("seconds") else None,
        "gpu_seconds": job["gpuSeconds"], "gpu_seconds_per_video_second": round(job["gpuSeconds"] / video_seconds, 3),
        "spool_overhead_seconds": round(job["gpuSeconds"] - worker["seconds"], 3) if worker.get("seconds") else None,
        "encode_tail_seconds": job["timings"].get("encodeTail"),
        "peak_memory_gib": round(worker["peak_memory_bytes"] / 2**30, 2) if worker.get("peak_memory_bytes") else None,
        "cold_start": job.get("coldStart"), "nvidia_smi": smi, "worker_pid": slot.get("workerPid"),
    }


def summary(report):
    lines = [f"gpu-check --bundle: {report['verdict']} ({report['seconds']:.0f} s); {report['bundle']}; "
             f"{report['torch']}; the daemon saw: {report['slots']}"]
    for name, result in report["tiny"].items():
        if "error" in result:
            lines.append(f"{name}: FAILED: {result['error']}")
        else:
            lines.append(f"{name}: {result['frames']} frames {result['size']} in {result['seconds']:.1f} s "
                         f"({'cold' if result['cold_start'] else 'warm'}), MP4 {result['codec']} "
                         f"{result['fps']:g} FPS, {result['frames']} frames read back"
                         + (f", ffprobe {result['ffprobe_frames']}" if result.get("ffprobe_frames") is not None else "")
                         + (", with its sound track" if result.get("audio_tracks") else ""))
    full = report["full_size"]
    if "skipped" in full:
        lines.append(f"full-size Helios-Distilled: skipped: {full['skipped']}")
    elif "error" in full:
        lines.append(f"full-size Helios-Distilled: FAILED: {full['error']}")
    else:
        steady = full["seconds_per_chunk"] or [0]
        lines.append(f"full-size Helios-Distilled ({(full['transformer_parameters'] or 0) / 1e9:.2f} B parameters, "
                     f"random weights, {report['size']}, {full['gpu']}) through the daemon: loaded in "
                     f"{full['load_seconds'] or 0:.1f} s")
        lines.append(f"  {full['frames']} frames ({full['video_seconds']:.1f} s of video) in {full['chunks']} chunks: "
                     f"{full['frames_per_second']} frames/s, {full['gpu_seconds_per_video_second']:.2f} GPU-s per video-s; "
                     f"first chunk after {full['first_chunk_seconds'] or 0:.2f} s, then "
                     f"{sum(steady) / len(steady):.2f} s a chunk ({min(steady):.2f} to {max(steady):.2f})")
        lines.append(f"  Spool's overhead: {full['spool_overhead_seconds']} s of the job's {full['gpu_seconds']:.2f} "
                     f"GPU-seconds (its slot time less the worker's {full['worker_generation_seconds']} s of generation); "
                     f"peak GPU memory {full['peak_memory_gib']} GiB")
        smi = full.get("nvidia_smi")
        if smi:
            lines.append(f"  nvidia-smi over the job: the worker (pid {full['worker_pid']}) held the GPU "
                         f"{smi.get('worker_seconds_on_gpu')} s, the GPU was busy {smi['busy_seconds']:.1f} s of "
                         f"{smi['seconds']:.1f} s, peak {smi['peak_memory_mib'] / 1024:.1f} GiB; Spool recorded "
                         f"{full['gpu_seconds']:.2f} GPU-seconds")
    lines.append("NVENC: " + report["nvenc"].get("reason", "not checked"))
    lines.append(f"the daemon stopped on SIGTERM with status {report['daemon_exit_status']}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="the extracted bundle (its bin/spool)")
    parser.add_argument("--helios", required=True, help="tiny Helios checkpoints (helios/make_tiny.py --all)")
    parser.add_argument("--wan", required=True, help="tiny Wan checkpoints (wan/make_tiny.py --all)")
    parser.add_argument("--ltx", required=True, help="the tiny LTX-Video checkpoint (ltx/make_tiny.py --all)")
    parser.add_argument("--ltx2", required=True, help="the tiny LTX-2 checkpoint (ltx2/make_tiny.py --all)")
    parser.add_argument("--out", required=True, help="folder for gpu-check.json and summary.txt")
    parser.add_argument("--gpu", default="0", help="the GPU nvidia-smi samples")
    parser.add_argument("--size", default="640x384")
    parser.add_argument("--full-size-frames", type=int, default=197,
                        help="frames of the measured full-size job (197: 6 chunks, 8.2 s)")
    parser.add_argument("--no-full-size", action="store_true")
    parser.add_argument("--device", default=os.environ.get("SPOOL_HELIOS_DEVICE", "cuda"), choices=("cuda", "cpu"))
    arguments = parser.parse_args()
    started = time.monotonic()
    import torch

    work = tempfile.mkdtemp(prefix="spool-gpu-check-bundle-")
    pipelines = os.path.join(work, "Pipelines")
    shutil.copytree(os.path.join(arguments.bundle, "Pipelines"), pipelines)
    with open(os.path.join(arguments.bundle, "bin", "BUNDLE")) as handle:
        bundle_line = handle.read().strip()
    report = {"bundle": bundle_line, "torch": f"torch {torch.__version__}, CUDA {torch.version.cuda}",
              "size": arguments.size, "device": arguments.device, "tiny": {}}
    jobs = tiny_jobs(arguments)
    for job in jobs:
        pipeline_file(pipelines, job["name"], job["worker"], job["model"], arguments.device, job["chunk_frames"],
                      job["overlap"], job["size"], job["multiple_of"], job["max_frames"], options=job["options"],
                      job_options=("steps", "pyramid_steps", "guidance_scale"), audio=job["audio"],
                      startup=900 if arguments.device == "cuda" else 600)
    trace = None
    if arguments.device != "cuda":
        report["full_size"] = {"skipped": f"the device is {arguments.device}; a 14 B transformer needs a GPU"}
    elif arguments.no_full_size:
        report["full_size"] = {"skipped": "--no-full-size"}
    else:
        try:
            trace = prepare_full_size(pipelines, arguments, work)
        except (subprocess.CalledProcessError, OSError) as error:
            report["full_size"] = {"error": f"the full-size checkpoint could not be made: {error}"}
    daemon = Daemon(arguments.bundle, os.path.join(work, "daemon"), pipelines)
    report["daemon_exit_status"] = None
    try:
        gpus = daemon.get("/v1/gpus")
        report["slots"] = ", ".join(f"{slot['name']} ({slot.get('model') or slot['kind']})" for slot in gpus["slots"]) or "no slot"
        for check in jobs:
            name, size = check["name"], check["size"]
            begun = time.monotonic()
            try:
                job, _, video = daemon.submit(name, check["frames"], size, sound=check["audio"] is not None)
                result = {**video, "size": size, "job": job["id"], "cold_start": job.get("coldStart"),
                          "gpu_seconds": job["gpuSeconds"], "seconds": round(time.monotonic() - begun, 1)}
            except Failed as error:
                result = {"error": str(error)}
            report["tiny"][name] = result
            print(f"{name}: {'FAILED' if 'error' in result else 'ok'} ({round(time.monotonic() - begun, 1)} s)", flush=True)
        if trace:
            try:
                report["full_size"] = full_size(daemon, arguments, trace)
            except (Failed, KeyError, OSError) as error:
                report["full_size"] = {"error": f"{type(error).__name__}: {error}"}
            print(f"full-size: {'FAILED' if 'error' in report['full_size'] else 'ok'}", flush=True)
    finally:
        try:
            report["daemon_exit_status"] = daemon.stop()
        except Failed as error:
            report["daemon_exit_status"] = str(error)
    if arguments.device == "cuda":
        report["nvenc"] = gpu_check.nvenc(arguments.gpu)
        if report["nvenc"].get("available"):
            try:
                nvenc = Daemon(arguments.bundle, os.path.join(work, "nvenc"), pipelines, ["--codec", "h264_nvenc"])
                try:
                    job, _, video = nvenc.submit("synthetic", 96, "640x384")
                finally:
                    nvenc.stop()
                report["nvenc"]["encode"] = {"frames": video["frames"], "job": job["id"]}
                report["nvenc"]["reason"] += f"; a 96-frame job encoded by h264_nvenc read back as {video['frames']} frames"
            except Failed as error:
                report["nvenc"]["encode"] = {"error": str(error)}
                report["nvenc"]["reason"] += f"; but the h264_nvenc job FAILED: {error}"
    else:
        report["nvenc"] = {"available": None, "reason": "not on a GPU"}
    failed = (any("error" in result for result in report["tiny"].values()) or "error" in report["full_size"]
              or "error" in report["nvenc"].get("encode", {}) or report["daemon_exit_status"] != 0)
    gpu_check.write_report(report, failed, started, summary, arguments.out)
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"gpu-check: the daemons' logs are in {work}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
