"""Thread limits: small work runs on one torch thread, LAPACK on one BLAS thread, and every
limit is restored on exit."""

import torch
from threadpoolctl import threadpool_info

from clustertheory.utils import limit_threads, one_blas_thread, one_thread_below


def test_one_thread_below_limits_small_work_only_and_restores():
    with limit_threads(2):
        with one_thread_below(10, limit=100):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with one_thread_below(100, limit=100):
            assert torch.get_num_threads() == 2


def test_one_blas_thread_limits_blas_and_leaves_torch_alone():
    with limit_threads(2):
        with one_blas_thread():
            blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
            assert blas and all(n == 1 for n in blas)
            assert torch.get_num_threads() == 2
