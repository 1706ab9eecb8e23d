"""Measurement rows as gRPC messages."""

from __future__ import annotations

import numpy as np

from samem.measure import measure_frame
from samem.service.convert import frame_message


def test_frame_messages_carry_each_particles_measurements_and_at_edge() -> None:
    masks = np.zeros((3, 40, 60), bool)
    masks[0, 10:20, 10:20] = True  # inside the frame
    masks[1, 30:40, 50:56] = True  # cut by the bottom edge
    rows = measure_frame(masks, frame=4, particle_ids=[1, 2, 3], scores=[0.9, 0.8, 0.1], predicted_ious=[0.8, 0.5, 0])
    message = frame_message(4, rows)
    assert [p.predicted_iou for p in message.particles] == [0.8, 0.5, 0.0]
    got = [(p.particle, p.present, p.x, p.y, p.area_px, p.at_edge) for p in message.particles]
    assert message.frame == 4 and got[:2] == [(1, True, 14.5, 14.5, 100.0, False), (2, True, 52.5, 34.5, 60.0, True)]
    assert got[2][0] == 3 and not got[2][1] and np.isnan(got[2][2]) and got[2][5] is False
    old = {k: v for k, v in rows[1].items() if k not in ("at_edge", "predicted_iou")}  # stored before they existed
    assert frame_message(4, [old]).particles[0].at_edge is False
    assert np.isnan(frame_message(4, [old]).particles[0].predicted_iou)
