"""Training: settings, the loop, the frozen-prefix cache, the learning-rate finder. No Gradio here."""
