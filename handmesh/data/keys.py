"""The one place where sample and prediction keys are defined (DESIGN §2).

Raw samples (``HandDataset.get_raw``) are what a dataset reader returns: full image, camera-space
metres, no augmentation. Samples (after ``handmesh.data.transforms``) are what models and losses
see: crop space, tensors once collated. Predictions are what models return.
"""

from __future__ import annotations

RAW_KEYS: dict[str, str] = {
    "image": "(H, W, 3) uint8 RGB, the full raw image",
    "cam_intr": "(3, 3) float32 pinhole intrinsics of the raw image (pixels)",
    "joints_3d": "(21, 3) float32 camera-space joints, metres, canonical order",
    "verts_3d": "(778, 3) float32 camera-space MANO vertices, metres (mesh datasets only)",
    "joints_2d": "(21, 2) float32 projection of joints_3d, raw-image pixels",
    "mano_pose": "(48,) float32 axis-angle: global rotation (camera frame) + 15 joints, flat_hand_mean=False offsets unless the dataset says otherwise",
    "mano_shape": "(10,) float32 betas",
    "side": "'right' or 'left'",
    "image_path": "str, where the image came from (or a synthetic id)",
    "sample_idx": "int, index of the sample in its dataset",
    "bbox_xywh": "(4,) float32 the dataset's crop box [x, y, w, h] in the raw (un-mirrored) image, pixels (HO3D, DexYCB: HandOccNet's process_bbox rules)",
    "root_joint": "(3,) float32 camera-space wrist, metres (HO3D evaluation samples, which have no joints_3d)",
    "image_id": "int, the annotation file's image id (COCO-style datasets)",
}

SAMPLE_KEYS: dict[str, str] = {
    "image": "(3, H, W) float32 crop, normalised per DATA_PRESET (OakInk: /255 - 0.5; HandOccNet: /255)",
    "target_joints_2d": "(21, 2) crop pixels",
    "target_joints_vis": "(21,) float32 0/1 visibility inside the crop",
    "target_joints_uvd": "(21, 3) normalised uvd: u, v in [0, 1] of the crop, d = 0.5 + (z - z_root) / DATA_PRESET.UVD_DEPTH_RANGE (handmesh.codecs.UVDCodec)",
    "target_joints_3d": "(21, 3) camera metres, rotated with the in-plane augmentation",
    "target_joints_3d_rel": "(21, 3) target_joints_3d minus the root joint",
    "target_verts_3d": "(778, 3) camera metres (when the dataset has meshes)",
    "target_verts_3d_rel": "(778, 3) root-relative vertices",
    "target_verts_2d": "(778, 2) crop pixels of the vertices (when the dataset has meshes)",
    "target_verts_vis": "(778,) float32 0/1 vertex visibility, the joints' rule",
    "target_verts_uvd": "(778, 3) normalised uvd of the vertices",
    "target_root_joint": "(3,) camera metres, the joint at DATA_PRESET.CENTER_IDX",
    "target_root_d": "(1,) root depth, metres",
    "target_cam_intr": "(3, 3) intrinsics of the crop (pixels)",
    "target_bbox_center": "(2,) raw-image pixels",
    "target_bbox_scale": "() square box side, raw-image pixels",
    "affine": "(3, 3) raw image -> crop pixel transform",
    "rot_mat3d": "(3, 3) in-plane augmentation rotation applied to the 3D targets",
    "rot_rad": "() the in-plane augmentation angle, radians",
    "mano_pose": "(48,) axis-angle with the augmentation rotation applied to the root",
    "mano_shape": "(10,) betas",
    "side": "'right' or 'left' (left crops are mirrored to right before the model sees them)",
    "hand_faces": "(1538, 3) int64 MANO faces (OakInk WITH_HAND_FACES); collated to (B, 1538, 3)",
    "image_path": "str",
    "sample_idx": "int, the dataset index: the evaluator uses it to count every sample exactly once",
    # DeepHandMesh (multi-view, world frame; handmesh.deephandmesh.dataset)
    "target_joints_world": "(22, 3) world metres, DeepHandMesh's 22-joint order (missing joints at 1 mm)",
    "target_joints_valid": "(22,) float32 0/1, joints with a keypoint annotation",
    "target_depth_maps": "(N, h, w) depth crops of N views, metres, 0 = no measurement",
    "target_depth_extr": "(N, 4, 4) world -> camera of those views, metres",
    "target_depth_intr": "(N, 3, 3) crop intrinsics of those views (pixels)",
}

PRED_KEYS: dict[str, str] = {
    "joints_3d": "(B, 21, 3) camera metres",
    "verts_3d": "(B, 778, 3) camera metres (mesh models; the HandTailorFit postprocess step adds the fitted mesh for joint models)",
    "fitted_joints_3d": "(B, 21, 3) camera metres, the joints of the HandTailor fit (HandTailorFit step); joints_3d stays the model's",
    "joints_2d": "(B, 21, 2) crop pixels",
    "uvd": "(B, 21, 3) normalised uvd (2.5D models; RegressFlow3D: depth re-centred on the root in eval mode)",
    "sigma": "(B, 21, 3) RegressFlow3D's per-axis scale of the uvd residual (sigmoid + 1e-7)",
    "maxvals": "(B, 21, 1) RegressFlow3D's confidence, mean over the axes of 1 - sigma",
    "log_phi": "(B, 21, 1) RegressFlow3D's flow log-density of the normalised residual (training mode; None in eval)",
    "joint_coord_img": "(B, 21, 3) I2L-MeshNet's joint lixels, heatmap bins (x, y, z) of DATA_PRESET.HEATMAP_SIZE",
    "mesh_coord_img": "(B, 778, 3) I2L-MeshNet's vertex lixels, heatmap bins (x, y, z)",
    "joint_img_from_mesh": "(B, 21, 3) I2L-MeshNet's joint regressor applied to mesh_coord_img, bins",
    # DeepHandMesh: joints_3d (B, 22, 3) / verts_3d (B, V, 3) are in its wrist frame (identity root)
    "joint_euler": "(B, 22, 3) DeepHandMesh Euler angles, radians",
    "joints_3d_world": "(B, 22, 3) DeepHandMesh joints placed on target_joints_world by the align-joint rigid fit, metres",
    "verts_3d_world": "(B, V, 3) the mesh placed likewise, metres",
    "depth_maps": "(B, N, h, w) depth of verts_3d_world rendered in the target_depth_* views, metres",
    "rest_joints_3d": "(22, 3) DeepHandMesh refined rest skeleton, metres (training)",
    "rest_verts_3d": "(B, V, 3) corrected template skinned by it, metres (training)",
    "joints_2d_norm": "(B, 21, 2) 2D joints in [0, 1] of the crop (HandOccNet's unit)",
    "heatmaps": "(B, 21, h, w) HandOccNet's spatial-softmax heatmaps (h, w = crop / 8)",
    "mano_pose": "(B, 48) predicted MANO axis-angle, flat_hand_mean=False offsets (right hand)",
    "mano_shape": "(B, 10) predicted MANO betas",
    "mano_rotmat": "(B, 16, 3, 3) predicted MANO joint rotations (HandOccNet: from 6D)",
    "mano_joints_3d": "(B, 21, 3) metres, the uncentred MANO frame (no camera translation)",
    "mano_verts_3d": "(B, 778, 3) metres, the uncentred MANO frame",
    "mano_transforms": "(B, 16, 4, 4) MANO global joint transforms, MANO frame, metres",
}
