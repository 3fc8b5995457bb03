"""janus.save / janus.load."""

import numpy as np

import janus


def test_tensors_and_nested_containers_round_trip(tmp_path):
    obj = {
        "w": janus.randn(3, 2),
        "steps": [janus.tensor(1), 2],
        "meta": {"lr": 0.1},
        "p": janus.nn.Parameter(janus.ones(2)),
    }
    path = tmp_path / "ckpt.pt"
    janus.save(obj, path)
    back = janus.load(path, map_location="cpu")
    assert np.array_equal(back["w"].numpy(), obj["w"].numpy())
    assert back["steps"][0].item() == 1 and back["steps"][1] == 2 and back["meta"]["lr"] == 0.1
    assert isinstance(back["p"], janus.nn.Parameter) and back["p"].requires_grad


def test_modules_and_optimizer_state(tmp_path):
    model = janus.nn.Sequential(janus.nn.Linear(2, 3), janus.nn.ReLU())
    opt = janus.optim.Adam(model.parameters())
    model(janus.ones(1, 2)).sum().backward()
    opt.step()
    janus.save({"model": model, "opt": opt.state_dict()}, tmp_path / "all.pt")
    back = janus.load(tmp_path / "all.pt")
    x = janus.randn(4, 2)
    assert np.allclose(back["model"](x).detach().numpy(), model(x).detach().numpy())
    assert back["opt"]["state"][0]["step"].item() == 1


def test_map_location_function(tmp_path):
    janus.save(janus.ones(2), tmp_path / "t.pt")
    seen = []
    t = janus.load(tmp_path / "t.pt", map_location=lambda storage, loc: seen.append(loc) or "cpu")
    assert t.tolist() == [1.0, 1.0] and seen == ["cpu"]
