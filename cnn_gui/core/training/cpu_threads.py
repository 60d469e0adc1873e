"""How many OpenMP threads each thread that runs torch CPU ops may use.

PyTorch's CPU kernels run on OpenMP (libgomp), and OpenMP keeps one team of threads per
*calling* thread. libgomp spin-waits between parallel regions only while it manages no
more threads than there are CPUs; past that it sleeps on a futex at once, and every one
of the ~100 parallel regions of a training step pays a wake-up. In the window the GUI
thread (canvas predictions, the tree's shape pass) and the training thread each owned a
team of ``cores`` threads, so on a 2-core machine training in the window ran at ~75 % of
the same run on the main thread -- with the GUI thread idle (measured in
``benchmarks/gui_responsiveness.py``).

So: the GUI thread runs its torch ops serially (:func:`make_this_thread_serial`): they
are single images, for which a second thread only waits -- on a busy 2-core machine a
1-image pass took ~110 ms with 2 threads instead of ~2 ms. And whichever thread
trains asks for the training thread count (:func:`use_training_threads`, called by
``Trainer.fit``). The count is torch's own default when this module was imported
(``OMP_NUM_THREADS`` or the cores), or what :func:`set_training_threads` set: at most
:func:`max_training_threads`, 4 per CPU (more only wait their turn, and 512 on 2 CPUs
made 1,023 threads; a huge count ran out of process ids and crashed).
"""

from __future__ import annotations

import os

import torch

THREADS_PER_CPU = 4

# torch's default, captured before any thread of this process asks for fewer.
_training_threads = max(1, torch.get_num_threads())
# A count set by the user is kept as it is; otherwise a run adapts it (thread_tuner.py).
_chosen_by_user = bool(os.environ.get("OMP_NUM_THREADS"))


def training_threads() -> int:
    """The OpenMP threads a training run uses (the count shown as "CPU (N threads)")."""
    return _training_threads


def max_training_threads() -> int:
    """The most threads a training run may use: :data:`THREADS_PER_CPU` per CPU."""
    return THREADS_PER_CPU * (os.cpu_count() or 1)


def set_training_threads(count: int) -> None:
    """Change the count used by the next :func:`use_training_threads` (`cnn-gui train --threads`);
    ValueError outside 1 .. :func:`max_training_threads`."""
    global _training_threads, _chosen_by_user
    limit = max_training_threads()
    if not 1 <= count <= limit:
        raise ValueError(f"threads must be from 1 to {limit} ({THREADS_PER_CPU} per CPU), got {count}")
    _training_threads = int(count)
    _chosen_by_user = True


def threads_chosen_by_user() -> bool:
    """True when ``OMP_NUM_THREADS`` or :func:`set_training_threads` chose the count: a run
    then keeps it instead of adapting it to the machine's load."""
    return _chosen_by_user


def use_training_threads() -> int:
    """Let the calling thread's torch CPU ops use :func:`training_threads` threads."""
    torch.set_num_threads(_training_threads)
    return _training_threads


def make_this_thread_serial() -> None:
    """Run the calling thread's torch CPU ops on that thread alone, from now on.

    ``torch.set_num_threads`` sets the calling thread's OpenMP count *and* the count a
    thread adopts on its first parallel op; the ``get_num_threads()`` right after makes
    this thread adopt 1 now, so a later ``use_training_threads()`` on another thread does
    not change it.
    """
    torch.set_num_threads(1)
    torch.get_num_threads()
