"""``samem.client``: the Python client of the samem tracking service (gRPC).

>>> from samem.client import Client
>>> with Client("127.0.0.1:50051", token="...") as client:  # doctest: +SKIP
...     video = client.upload_video("video.tif")
...     client.set_prompts(video.video_id, [PromptSpec(particle=1, frame=0, box=(10, 10, 30, 30))])
...     job = client.wait(client.start_propagation(video.video_id).job_id)
...     table = client.trajectories(job.job_id)
"""

from samem.client.client import Client, ClientError

__all__ = ["Client", "ClientError"]
