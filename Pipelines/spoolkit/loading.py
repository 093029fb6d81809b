"""Where a model family's worker loads: the device, and the checkpoint folder (nothing is
downloaded). One copy of the rules, and of the messages a person acts on."""

import os

from .serve import die


def choose_device(family, requested, device_variable):
    """"cuda", or "cpu" when asked for (a tiny test checkpoint; never a full model by mistake)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    try:
        import torch
    except ImportError:
        die(f"the {family} pipeline needs PyTorch, and this host has none "
            f"(CUDA_VISIBLE_DEVICES={visible}). Install torch, diffusers, transformers, accelerate and "
            "ftfy (see Pipelines/README.md), or use the synthetic pipeline on hosts without a GPU.")
    if requested == "cpu":
        return "cpu"
    if not torch.cuda.is_available():
        die(f"the {family} pipeline needs a CUDA GPU, and none is visible (CUDA_VISIBLE_DEVICES={visible}). "
            "Run it on a GPU host, or use the synthetic pipeline on hosts without a GPU "
            f"({device_variable}=cpu runs it on the CPU, for tiny test checkpoints only).")
    return "cuda"


def resolve_checkpoint(family, model, model_variable):
    """The folder of `model`: a path holding model_index.json, or a Hugging Face id already in
    the local cache."""
    if not model:
        die("no model given: pass --model (a checkpoint folder or a Hugging Face id in the local cache) "
            f"in the pipeline file's command, or set {model_variable}")
    if os.path.isabs(model) or model.startswith("."):
        if not os.path.isfile(os.path.join(model, "model_index.json")):
            die(f"no {family} checkpoint at {model} (it has no model_index.json); point --model at the "
                "downloaded folder")
        return model
    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(model, local_files_only=True)
    except Exception:
        die(f"{family} weights for {model} are not in the Hugging Face cache; download them first with "
            f"`hf download {model}`, or pass --model the folder they are in")


def require_libraries(family, *extra):
    """diffusers and the libraries `extra` names, or an exit saying what to install."""
    try:
        import diffusers  # noqa: F401
        for name in extra:
            __import__(name)
    except ImportError as error:
        needed = ", ".join(("torch", "diffusers", "transformers") + extra)
        die(f"{error.name} is not installed; the {family} pipeline needs {needed} (see Pipelines/README.md)")


def model_arguments(description, model_variable, device_variable):
    """The command line every model worker takes: --model (or $MODEL_VARIABLE), --device
    (cuda, or cpu when asked for; $DEVICE_VARIABLE), --dtype, --checkpoints. Nothing is fetched
    from the network (HF_HUB_OFFLINE)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=os.environ.get(model_variable))
    parser.add_argument("--device", choices=("cuda", "cpu"), default=os.environ.get(device_variable, "cuda"))
    parser.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16")
    parser.add_argument("--checkpoints", choices=("on", "off"), default="off",
                        help="announce a checkpoint after each chunk (the pipeline file says \"checkpoints\": true)")
    arguments = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return arguments
