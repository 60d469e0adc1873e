"""Data-parallel training without processes: the shard rule, the ranks from the environment,
what a launcher says about a failed rank, and its one-line refusals (issue 22)."""

import json
import os
import signal
import socket
from types import SimpleNamespace

import pytest
import torch

from cnn_gui.core.training.distributed import DistributedError, Ranks, Shard
from cnn_gui.core.training.epoch import permutation
from cnn_gui.core.training.launcher import Launch, LaunchError, failure_line, first_failure, mark_run_failed


@pytest.mark.parametrize("world", [2, 3, 4, 7])
@pytest.mark.parametrize("n", [7, 8, 9, 64, 65, 66, 100, 101, 1000, 1003])
@pytest.mark.parametrize("batch_size", [7, 8, 10, 32, 100])
def test_every_sample_once_per_epoch_across_ranks(n, world, batch_size):
    if n < world or batch_size < world:
        with pytest.raises(DistributedError):
            Shard.plan(n, batch_size, 0, world)
        return
    perm = permutation(5, 1, n)
    shards = [Shard.plan(n, batch_size, rank, world) for rank in range(world)]
    steps = {s.batches for s in shards}
    assert len(steps) == 1  # every rank takes the same number of steps
    seen = []
    for b in range(shards[0].batches):
        parts = [s.indices(perm, b) for s in shards]
        sizes = [len(p) for p in parts]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1  # as even as possible, none empty
        whole = torch.cat(parts)
        if b < shards[0].batches - 1:  # the ranks' shares make up the one-process batch, in order
            assert torch.equal(whole, perm[b * batch_size:(b + 1) * batch_size])
        seen.append(whole)
    assert sorted(torch.cat(seen).tolist()) == list(range(n))  # each sample exactly once


def test_a_small_last_batch_is_merged_and_max_batches_truncates():
    shard = Shard.plan(65, 32, 0, 2)  # 32 + 32 + 1: the 1 joins the second batch
    assert shard.batches == 2 and shard.bounds(1) == (32, 49)
    assert Shard.plan(66, 32, 1, 2).batches == 3  # a last batch of 2 is shared, one sample each
    capped = Shard.plan(1000, 32, 1, 2, max_batches=3)
    assert capped.batches == 3 and capped.bounds(2) == (80, 96)


def test_one_process_shard_is_the_plain_slice():
    perm = permutation(0, 1, 101)
    shard = Shard(0, 1, 10, 10, 100)  # what the engine uses for one process (a last sample left out)
    for b in range(10):
        assert torch.equal(shard.indices(perm, b), perm[b * 10:(b + 1) * 10])


def test_ranks_from_the_environment():
    assert Ranks.from_env({}) is None
    assert Ranks.from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert Ranks.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    with pytest.raises(DistributedError):
        Ranks.from_env({"WORLD_SIZE": "2"})
    assert Ranks(1, 2, 1).device("cpu") == "cpu"
    with pytest.raises(DistributedError):
        Ranks(1, 2, 1).device("mps")


def test_the_failure_named_is_the_cause_not_a_rank_the_launcher_stopped():
    def failure(exitcode, at, own=None, message="training failed: boom"):
        data = {"message": message, "cnn_gui_time": own} if own is not None else {}
        return SimpleNamespace(exitcode=exitcode, timestamp=at, error_file_data=data)

    broken = ("training failed: RuntimeError: [gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:16067: "
              "Connection reset by peer. This is typically caused by a remote worker hanging or bugs in the …")
    raised, stopped = failure(1, 10, own=10.5), failure(-signal.SIGTERM, 9)
    assert first_failure({0: stopped, 1: raised})[0] == 1  # it left the group cleanly; rank 0 waited, then SIGTERM
    for crash in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT):  # the others fail on its closed connection
        assert first_failure({0: failure(1, 11, own=11.2, message=broken), 1: failure(-crash, 12)})[0] == 1
    users_kill = failure(-signal.SIGTERM, 12)
    assert first_failure({0: failure(1, 11, own=11.2, message=broken), 1: users_kill})[0] == 1
    assert first_failure({0: failure(1, 13, own=13.0, message=broken), 2: failure(1, 12, own=12.9)})[0] == 2
    early, late = failure(1, 20, own=20.1), failure(1, 20, own=20.4)
    assert first_failure({0: late, 3: early})[0] == 3
    assert first_failure({0: failure(2, 5, own=5.0, message="error: --lr must be above 0"), 1: stopped})[0] == 0


def test_a_rank_s_failure_in_one_line_and_in_run_json(tmp_path):
    assert failure_line("x", 1, {"message": "training failed: boom", "cnn_gui_time": 1.0}) == "training failed: boom"
    assert failure_line("Signal 9 (SIGKILL) received by PID 7", -9, {}) == ("Signal 9 (SIGKILL) received by PID 7 "
                                                                            "(killed: out of memory?)")
    assert failure_line("Signal 11 (SIGSEGV) received by PID 7", -11, {}) == "Signal 11 (SIGSEGV) received by PID 7"
    assert failure_line("To enable traceback see: ...", 137, {}).startswith("it exited with status 137")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"status": "running", "name": "r"}))
    note = tmp_path / "note"
    note.write_text(str(run))
    mark_run_failed(note, "rank 1 failed: boom", other=True)
    doc = json.loads((run / "run.json").read_text())
    assert doc["status"] == "failed" and doc["error"]["message"] == "rank 1 failed: boom"
    mark_run_failed(tmp_path / "missing", "rank 1 failed", other=True)  # no run folder: nothing, no error


def test_launch_refusals_are_one_line():
    with pytest.raises(LaunchError, match="--node-rank 2 must be below --nnodes 2"):
        Launch(1, nnodes=2, node_rank=2, rdzv_endpoint="h:1").check("cpu")
    with pytest.raises(LaunchError, match="--rdzv-endpoint"):
        Launch(2, nnodes=2).check("cpu")
    with pytest.raises(LaunchError, match="HOST:PORT"):
        Launch(2, rdzv_endpoint="nohost").endpoint()
    with pytest.raises(LaunchError, match="MPS"):
        Launch(2).check("mps")
    if not torch.cuda.is_available():
        with pytest.raises(LaunchError, match="no CUDA device"):
            Launch(2).check("cuda")
    cores = len(os.sched_getaffinity(0))
    Launch(cores).check("cpu")  # one rank per core is fine; 64 ranks on 2 cores were killed for memory
    with pytest.raises(LaunchError, match=f"--nproc-per-node {cores + 1} on the CPU: .* give at most {cores}$"):
        Launch(cores + 1).check("cpu")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LaunchError, match=f"port {port} is in use"):
            Launch(2, rdzv_endpoint=f"127.0.0.1:{port}").endpoint()
    host, port = Launch(2).endpoint()  # one machine: a free local port
    assert host == "127.0.0.1" and port > 0


@pytest.mark.slow
def test_fit_lets_go_of_its_ddp_wrapper_before_the_group_is_destroyed(monkeypatch):
    """A DDP wrapper still alive when the group is destroyed (its reducer holds the gloo group)
    was freed at the interpreter's exit with the group's threads unjoined: ranks of
    ``--nproc-per-node 2`` aborted ("terminate called without an active exception") in ~4 runs
    of 10. So none may be alive, not even as uncollected garbage (``gc.get_objects`` lists it),
    when :meth:`Group.close` destroys the group. One rank in this process: the same lifetime."""
    import gc

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.distributed import join
    from cnn_gui.core.training.engine import Trainer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(key, value)
    alive_at_destroy = []
    destroy = dist.destroy_process_group

    def counted(*args, **kwargs):
        alive_at_destroy.append(sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects()))
        return destroy(*args, **kwargs)

    monkeypatch.setattr(dist, "destroy_process_group", counted)
    group = join(Ranks(0, 1, 0), "cpu")
    gc.disable()  # a wrapper in cyclic garbage (DDP's construction makes some) waits for close() to collect it
    try:
        events = []
        trainer = Trainer(TrainConfig(epochs=1, max_batches=3, batch_size=32, device="cpu"),
                          data=load_dataset("mnist").subset(256, 64), callbacks=[events.append], parallel=group)
        assert trainer.fit().reason == "completed"
        assert "DDP over 1 processes, gloo" in events[0].precision  # the steps went through the wrapper
    finally:
        group.close()
        gc.enable()
    assert alive_at_destroy == [0] and not dist.is_initialized()
