import pytest

from samem.errors import InputError
from samem.sim.layout import layout_spec
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ParticleSpec(size_nm=-1.0), "size"),
        (lambda: ParticleSpec(shape="blob"), "unknown shape"),
        (lambda: ParticleSpec(material="Cu"), "unknown material"),
        (lambda: ParticleSpec(shape="rod", aspect=0.5), "aspect"),
        (lambda: ParticleSpec(shape="aggregate"), "offsets"),
        (lambda: MotionSpec(alpha=2.0), "alpha"),
        (lambda: MotionSpec(kind="confined"), "trap radius"),
        (lambda: MotionSpec(D_nm2_s=float("nan")), "finite"),
        (lambda: MotionSpec(kind="walk"), "unknown motion"),
        (lambda: ImagingSpec(thickness_nm=0), "thickness"),
        (lambda: ImagingSpec(quantize="png"), "quantisation"),
        (lambda: VideoSpec(n_frames=0), "frames"),
        (lambda: VideoSpec(width=10.5), "width"),
        (lambda: VideoSpec(seed=-1), "seed"),
        (lambda: VideoSpec(fps=100.0), "exposure"),
        (lambda: layout_spec(size_nm=(5.0, 2.0)), "size range"),
    ],
)
def test_invalid_values_raise_input_error(factory, message):
    with pytest.raises(InputError, match=message):
        factory()


def test_defaults_are_filled():
    assert ParticleSpec(shape="rod").aspect == 3.0
    assert ParticleSpec(shape="triangle").aspect == 4.0
    spec = layout_spec(seed=1, n_particles=6)
    assert len(spec.particles) == 6 and (spec.height, spec.width) == (384, 512)
    assert layout_spec(seed=1) == spec
    assert layout_spec(seed=2) != spec
