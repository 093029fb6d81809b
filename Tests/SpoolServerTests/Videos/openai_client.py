"""Drives Spool's /v1/videos with the official `openai` Python package, as a script written
against vLLM-Omni or OpenAI would, and prints what it saw as one JSON object.

    openai_client.py BASE_URL OUT_FOLDER IMAGE

The Swift test (VideosAPITests.swift) checks the files it downloads with ffprobe.
"""

import json
import sys
import warnings

import openai

warnings.simplefilter("ignore", DeprecationWarning)


def main():
    base, out, image = sys.argv[1:4]
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused-on-loopback", max_retries=0)
    seen = {}

    # Text to video, polled to the end as the SDK does it (it follows openai-poll-after-ms).
    video = client.videos.create_and_poll(model="synthetic", prompt="a red fox in snow", seconds="2", size="128x96")
    seen["created"] = video.model_dump()
    client.videos.download_content(video.id, variant="video").write_to_file(f"{out}/video.mp4")
    client.videos.download_content(video.id, variant="thumbnail").write_to_file(f"{out}/thumbnail.png")

    # Image to video: input_reference as a file, which the SDK sends as multipart/form-data.
    with open(image, "rb") as f:
        started = client.videos.create(model="synthetic", prompt="the fox runs", input_reference=f, seconds="1", size="128x96")
    seen["image_started"] = started.model_dump()
    seen["image"] = client.videos.poll(started.id).model_dump()

    # vLLM-Omni's extra fields ride in the body.
    extra = client.videos.create_and_poll(
        model="synthetic", prompt="a hare", size="128x96", extra_body={"num_frames": 30, "seed": 7, "negative_prompt": "blur"})
    seen["extra"] = extra.model_dump()

    # Listing pages through every video, oldest first, two to a page (the SDK follows after/has_more).
    seen["listed_asc"] = [v.id for v in client.videos.list(limit=2, order="asc")]
    first_page = client.videos.list(limit=2)
    seen["first_page"] = {"ids": [v.id for v in first_page.data], "has_more": first_page.has_more}

    # A request the API refuses says why, in the SDK's error.
    try:
        client.videos.create(model="synthetic", prompt="too long", seconds="61", size="128x96")
        seen["refused"] = None
    except openai.APIStatusError as error:
        seen["refused"] = {"status": error.status_code, "message": str(error)}

    deleted = client.videos.delete(extra.id)
    seen["deleted"] = deleted.model_dump()
    try:
        client.videos.retrieve(extra.id)
        seen["after_delete"] = "still there"
    except openai.NotFoundError as error:
        seen["after_delete"] = error.status_code
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
