"""Demos on single images: ``python -m handmesh.demo`` (HandOccNet and other mesh models; see
``handmesh.demo.run``) and ``python -m handmesh.demo.deephandmesh``, built from small parts:
keypoint boxes (``keypoints``), the crop (``crop``), the overlay (``overlay``)."""
