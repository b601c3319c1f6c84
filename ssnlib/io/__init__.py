"""Files: the project's safetensors generators and checkpoints (`serialization`) and the import of
foreign StyleGAN2 checkpoints — rosinality `.pt`, NVlabs `.pkl` (`stylegan2_import`)."""
