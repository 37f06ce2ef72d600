"""animefy web app: `python app.py` locally, or the app file of a Hugging Face Space (ZeroGPU)
or a ModelScope studio. The UI lives in animefy/app/ui.py; this file only starts it."""

try:  # ZeroGPU wants `spaces` imported before anything that may initialise CUDA (torch first)
    import spaces  # noqa: F401
except ImportError:
    pass

from animefy.app.ui import main
from animefy.settings import Settings

if Settings.from_env().on_zerogpu:
    # ZeroGPU's documented pattern: load every model the default pipeline uses and place the
    # weights on cuda at import time; the @spaces.GPU functions then find them loaded.
    from animefy.app.zerogpu import preload

    preload(Settings.from_env())

if __name__ == "__main__":
    main()
