"""The paper's reproduction, on top of the library (which never imports it): presets, the model
zoo and run registry, tables and their verdict rules, figures, the inpainting baselines, the §2
toy chains and Definition 1, and the paper's published numbers. The notebooks call into this."""
