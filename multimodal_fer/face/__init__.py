"""Face stream: MediaPipe landmarks -> geometric features + aligned crop -> expressed-emotion
probabilities (landmark models + small CNN, stacked).

Public interface::

    from multimodal_fer.face import (FaceTracker, FaceObservation, landmarks_from_image,
                                     FEATURE_NAMES, landmark_features, mouth_opening,
                                     head_pose, aligned_crop, FaceModel)
"""

from multimodal_fer.face.crop import aligned_crop
from multimodal_fer.face.features import FEATURE_NAMES, head_pose, landmark_features, mouth_opening
from multimodal_fer.face.landmarks import FaceObservation, FaceTracker, landmarks_from_image
from multimodal_fer.face.model import FaceModel

__all__ = [
    "FEATURE_NAMES",
    "FaceModel",
    "FaceObservation",
    "FaceTracker",
    "aligned_crop",
    "head_pose",
    "landmark_features",
    "landmarks_from_image",
    "mouth_opening",
]
