"""Entry point: ``streamlit run dashboard/app.py`` (settings from SAMEM_ADDRESS, SAMEM_TOKEN, ...)."""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # streamlit puts the script's folder on sys.path; AppTest and other launchers may not
    sys.path.insert(0, HERE)

from samem_dashboard.main import main  # noqa: E402

main()
