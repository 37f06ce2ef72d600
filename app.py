"""animefy web app: `python app.py` locally, or the app file of a Hugging Face Space (ZeroGPU)
or a ModelScope studio. The UI lives in animefy/app/ui.py; this file only starts it."""

try:  # ZeroGPU wants `spaces` imported before anything that may initialise CUDA
    import spaces  # noqa: F401
except ImportError:
    pass

from animefy.app.ui import main

if __name__ == "__main__":
    main()
