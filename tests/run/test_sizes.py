"""The plan's disk estimates know the built-in models before they are built."""

from w2s_lf.models.builtin import BUILDERS, PARAMETERS, fetch
from w2s_lf.run.sizes import parameter_count


def test_every_builtin_has_the_size_its_built_folder_gives():
    assert set(PARAMETERS) == set(BUILDERS)
    for name in ("tiny-llama", "smollm2-135m"):
        assert abs(parameter_count(str(fetch(name))) - PARAMETERS[name]) / PARAMETERS[name] < 0.01
    assert parameter_count("smollm2-strong") == PARAMETERS["smollm2-strong"]
