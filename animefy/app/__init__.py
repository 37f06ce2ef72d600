"""Front ends: the service layer, the Gradio UI, the REST API and the CLI, thin shells over the library."""
