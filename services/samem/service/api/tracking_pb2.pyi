from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    QUEUED: _ClassVar[JobState]
    RUNNING: _ClassVar[JobState]
    SUCCEEDED: _ClassVar[JobState]
    FAILED: _ClassVar[JobState]
    CANCELLED: _ClassVar[JobState]

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    PROPAGATION: _ClassVar[JobKind]
    ANALYSIS: _ClassVar[JobKind]

class MaskEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASK_ENCODING_UNSPECIFIED: _ClassVar[MaskEncoding]
    PNG: _ClassVar[MaskEncoding]
    RLE: _ClassVar[MaskEncoding]
JOB_STATE_UNSPECIFIED: JobState
QUEUED: JobState
RUNNING: JobState
SUCCEEDED: JobState
FAILED: JobState
CANCELLED: JobState
JOB_KIND_UNSPECIFIED: JobKind
PROPAGATION: JobKind
ANALYSIS: JobKind
MASK_ENCODING_UNSPECIFIED: MaskEncoding
PNG: MaskEncoding
RLE: MaskEncoding

class Video(_message.Message):
    __slots__ = ("video_id", "owner", "filename", "format", "n_frames", "height", "width", "px_nm", "fps", "size_bytes", "sha256", "created_unix")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    N_FRAMES_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    PX_NM_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    owner: str
    filename: str
    format: str
    n_frames: int
    height: int
    width: int
    px_nm: float
    fps: float
    size_bytes: int
    sha256: str
    created_unix: float
    def __init__(self, video_id: _Optional[str] = ..., owner: _Optional[str] = ..., filename: _Optional[str] = ..., format: _Optional[str] = ..., n_frames: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., px_nm: _Optional[float] = ..., fps: _Optional[float] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., created_unix: _Optional[float] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("filename", "size_bytes", "sha256", "px_nm", "fps")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    PX_NM_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    filename: str
    size_bytes: int
    sha256: str
    px_nm: float
    fps: float
    def __init__(self, filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., px_nm: _Optional[float] = ..., fps: _Optional[float] = ...) -> None: ...

class UploadVideoRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class RegisterVideoRequest(_message.Message):
    __slots__ = ("path", "px_nm", "fps")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PX_NM_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    path: str
    px_nm: float
    fps: float
    def __init__(self, path: _Optional[str] = ..., px_nm: _Optional[float] = ..., fps: _Optional[float] = ...) -> None: ...

class GetVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class ListVideosRequest(_message.Message):
    __slots__ = ("all_users",)
    ALL_USERS_FIELD_NUMBER: _ClassVar[int]
    all_users: bool
    def __init__(self, all_users: _Optional[bool] = ...) -> None: ...

class ListVideosResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[Video]
    def __init__(self, videos: _Optional[_Iterable[_Union[Video, _Mapping]]] = ...) -> None: ...

class DeleteVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class DeleteVideoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetFrameRequest(_message.Message):
    __slots__ = ("video_id", "frame", "max_size")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    frame: int
    max_size: int
    def __init__(self, video_id: _Optional[str] = ..., frame: _Optional[int] = ..., max_size: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("video_id", "frame", "width", "height", "original_width", "original_height", "png", "low", "high")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    frame: int
    width: int
    height: int
    original_width: int
    original_height: int
    png: bytes
    low: float
    high: float
    def __init__(self, video_id: _Optional[str] = ..., frame: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., original_width: _Optional[int] = ..., original_height: _Optional[int] = ..., png: _Optional[bytes] = ..., low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x0", "y0", "x1", "y1")
    X0_FIELD_NUMBER: _ClassVar[int]
    Y0_FIELD_NUMBER: _ClassVar[int]
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    x0: float
    y0: float
    x1: float
    y1: float
    def __init__(self, x0: _Optional[float] = ..., y0: _Optional[float] = ..., x1: _Optional[float] = ..., y1: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y", "positive")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    positive: bool
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., positive: _Optional[bool] = ...) -> None: ...

class Prompt(_message.Message):
    __slots__ = ("particle", "frame", "box", "points")
    PARTICLE_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    particle: int
    frame: int
    box: Box
    points: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, particle: _Optional[int] = ..., frame: _Optional[int] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class SetPromptsRequest(_message.Message):
    __slots__ = ("video_id", "prompts")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    def __init__(self, video_id: _Optional[str] = ..., prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ...) -> None: ...

class RemovePromptRequest(_message.Message):
    __slots__ = ("video_id", "particle", "frame", "all_frames")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICLE_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    ALL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    particle: int
    frame: int
    all_frames: bool
    def __init__(self, video_id: _Optional[str] = ..., particle: _Optional[int] = ..., frame: _Optional[int] = ..., all_frames: _Optional[bool] = ...) -> None: ...

class ListPromptsRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class PromptList(_message.Message):
    __slots__ = ("video_id", "prompts")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    def __init__(self, video_id: _Optional[str] = ..., prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "spec", "config", "description", "checkpoint_sha256", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: str
    config: str
    description: str
    checkpoint_sha256: str
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[str] = ..., config: _Optional[str] = ..., description: _Optional[str] = ..., checkpoint_sha256: _Optional[str] = ..., is_default: _Optional[bool] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "video_id", "owner", "kind", "state", "frames_done", "frames_total", "error", "created_unix", "updated_unix", "resumes", "model")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    UPDATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    RESUMES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    video_id: str
    owner: str
    kind: JobKind
    state: JobState
    frames_done: int
    frames_total: int
    error: str
    created_unix: float
    updated_unix: float
    resumes: int
    model: str
    def __init__(self, job_id: _Optional[str] = ..., video_id: _Optional[str] = ..., owner: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., frames_done: _Optional[int] = ..., frames_total: _Optional[int] = ..., error: _Optional[str] = ..., created_unix: _Optional[float] = ..., updated_unix: _Optional[float] = ..., resumes: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class StartPropagationRequest(_message.Message):
    __slots__ = ("video_id", "model")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    model: str
    def __init__(self, video_id: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("video_id", "all_users")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_USERS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    all_users: bool
    def __init__(self, video_id: _Optional[str] = ..., all_users: _Optional[bool] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "include_results")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    include_results: bool
    def __init__(self, job_id: _Optional[str] = ..., include_results: _Optional[bool] = ...) -> None: ...

class ParticleResult(_message.Message):
    __slots__ = ("particle", "present", "x", "y", "area_px", "mask_score", "at_edge", "predicted_iou")
    PARTICLE_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    AREA_PX_FIELD_NUMBER: _ClassVar[int]
    MASK_SCORE_FIELD_NUMBER: _ClassVar[int]
    AT_EDGE_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_IOU_FIELD_NUMBER: _ClassVar[int]
    particle: int
    present: bool
    x: float
    y: float
    area_px: float
    mask_score: float
    at_edge: bool
    predicted_iou: float
    def __init__(self, particle: _Optional[int] = ..., present: _Optional[bool] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., area_px: _Optional[float] = ..., mask_score: _Optional[float] = ..., at_edge: _Optional[bool] = ..., predicted_iou: _Optional[float] = ...) -> None: ...

class FrameResult(_message.Message):
    __slots__ = ("frame", "particles")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PARTICLES_FIELD_NUMBER: _ClassVar[int]
    frame: int
    particles: _containers.RepeatedCompositeFieldContainer[ParticleResult]
    def __init__(self, frame: _Optional[int] = ..., particles: _Optional[_Iterable[_Union[ParticleResult, _Mapping]]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job", "frame")
    JOB_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    job: Job
    frame: FrameResult
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., frame: _Optional[_Union[FrameResult, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("limit", "user", "job_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    user: str
    job_id: str
    def __init__(self, limit: _Optional[int] = ..., user: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("time_unix", "user", "action", "job_id", "video_id", "kind", "outcome", "detail")
    TIME_UNIX_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    time_unix: float
    user: str
    action: str
    job_id: str
    video_id: str
    kind: JobKind
    outcome: JobState
    detail: str
    def __init__(self, time_unix: _Optional[float] = ..., user: _Optional[str] = ..., action: _Optional[str] = ..., job_id: _Optional[str] = ..., video_id: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., outcome: _Optional[_Union[JobState, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class GetTrajectoriesRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Trajectories(_message.Message):
    __slots__ = ("job_id", "csv", "model", "model_spec", "model_checkpoint_sha256")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_SPEC_FIELD_NUMBER: _ClassVar[int]
    MODEL_CHECKPOINT_SHA256_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    csv: bytes
    model: str
    model_spec: str
    model_checkpoint_sha256: str
    def __init__(self, job_id: _Optional[str] = ..., csv: _Optional[bytes] = ..., model: _Optional[str] = ..., model_spec: _Optional[str] = ..., model_checkpoint_sha256: _Optional[str] = ...) -> None: ...

class GetMasksRequest(_message.Message):
    __slots__ = ("job_id", "start_frame", "stop_frame", "encoding")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    STOP_FRAME_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    start_frame: int
    stop_frame: int
    encoding: MaskEncoding
    def __init__(self, job_id: _Optional[str] = ..., start_frame: _Optional[int] = ..., stop_frame: _Optional[int] = ..., encoding: _Optional[_Union[MaskEncoding, str]] = ...) -> None: ...

class RunLengths(_message.Message):
    __slots__ = ("values", "lengths")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    lengths: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ..., lengths: _Optional[_Iterable[int]] = ...) -> None: ...

class MaskFrame(_message.Message):
    __slots__ = ("frame", "height", "width", "png", "rle")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    RLE_FIELD_NUMBER: _ClassVar[int]
    frame: int
    height: int
    width: int
    png: bytes
    rle: RunLengths
    def __init__(self, frame: _Optional[int] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., png: _Optional[bytes] = ..., rle: _Optional[_Union[RunLengths, _Mapping]] = ...) -> None: ...

class StartAnalysisRequest(_message.Message):
    __slots__ = ("job_id", "px_nm", "fps", "exposure_fraction", "keep_edge", "min_iou", "max_area_change")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PX_NM_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    KEEP_EDGE_FIELD_NUMBER: _ClassVar[int]
    MIN_IOU_FIELD_NUMBER: _ClassVar[int]
    MAX_AREA_CHANGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    px_nm: float
    fps: float
    exposure_fraction: float
    keep_edge: bool
    min_iou: float
    max_area_change: float
    def __init__(self, job_id: _Optional[str] = ..., px_nm: _Optional[float] = ..., fps: _Optional[float] = ..., exposure_fraction: _Optional[float] = ..., keep_edge: _Optional[bool] = ..., min_iou: _Optional[float] = ..., max_area_change: _Optional[float] = ...) -> None: ...

class GetAnalysisRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class NamedFile(_message.Message):
    __slots__ = ("name", "content")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: bytes
    def __init__(self, name: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class Analysis(_message.Message):
    __slots__ = ("job_id", "stats_json", "files")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATS_JSON_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stats_json: str
    files: _containers.RepeatedCompositeFieldContainer[NamedFile]
    def __init__(self, job_id: _Optional[str] = ..., stats_json: _Optional[str] = ..., files: _Optional[_Iterable[_Union[NamedFile, _Mapping]]] = ...) -> None: ...

class LiveStart(_message.Message):
    __slots__ = ("height", "width", "low", "high", "prompts", "n_frames")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    N_FRAMES_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    low: float
    high: float
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    n_frames: int
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., low: _Optional[float] = ..., high: _Optional[float] = ..., prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., n_frames: _Optional[int] = ...) -> None: ...

class LiveFrame(_message.Message):
    __slots__ = ("frame", "pixels")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    pixels: bytes
    def __init__(self, frame: _Optional[int] = ..., pixels: _Optional[bytes] = ...) -> None: ...

class LiveRequest(_message.Message):
    __slots__ = ("start", "frame")
    START_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    start: LiveStart
    frame: LiveFrame
    def __init__(self, start: _Optional[_Union[LiveStart, _Mapping]] = ..., frame: _Optional[_Union[LiveFrame, _Mapping]] = ...) -> None: ...

class LiveResponse(_message.Message):
    __slots__ = ("result", "masks", "latency_ms")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    result: FrameResult
    masks: MaskFrame
    latency_ms: float
    def __init__(self, result: _Optional[_Union[FrameResult, _Mapping]] = ..., masks: _Optional[_Union[MaskFrame, _Mapping]] = ..., latency_ms: _Optional[float] = ...) -> None: ...
