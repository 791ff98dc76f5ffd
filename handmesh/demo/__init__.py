"""Demos on single images: ``python -m handmesh.demo`` (HandOccNet and other mesh models; see
``handmesh.demo.run``), built from small parts: keypoint boxes (``keypoints``), the crop
(``crop``), the overlay (``overlay``)."""
