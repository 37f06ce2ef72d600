"""animefy web app. Run `python app.py` (local) or deploy as a Hugging Face Space / ModelScope
studio. The UI lives in animefy/ui.py; this file only starts it."""

from animefy.ui import main

if __name__ == "__main__":
    main()
