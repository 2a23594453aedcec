"""Where the repository and the paper's reference code are, for the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("CNSN_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO / "clients" / "python"))


@pytest.fixture(scope="session")
def paper():
    """The paper's code (../shared/reference/seed_cnsn.py), as a module."""
    sys.path.insert(0, str(SHARED / "reference"))
    import seed_cnsn

    return seed_cnsn
