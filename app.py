"""Launch the ftapp web app:  python app.py

Environment: FTAPP_MODE=hosted|local (hosted is automatic on Hugging Face Spaces),
FTAPP_RUNS_DIR (default ./runs), GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, FTAPP_MAX_FILE_SIZE (200mb).
No model is loaded at start-up; models load when they are first chosen.
"""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # before gradio is imported

from ftapp.ui.app import build_demo, launch_kwargs  # noqa: E402
from ftapp.ui.session import hosted  # noqa: E402


def main() -> None:
    demo = build_demo()
    demo.ftapp.exit_on_sigterm()   # a stopped container's run pauses at a checkpoint and resumes later
    default_host = "0.0.0.0" if hosted() or os.environ.get("SPACE_ID") else "127.0.0.1"
    server_name = os.environ.get("GRADIO_SERVER_NAME") or default_host
    demo.launch(server_name=server_name, show_error=False, **launch_kwargs(demo))


if __name__ == "__main__":
    main()
