"""Example inpaintzoo plugin: an hourglass encoder, a pixel-shuffle decoder and a PatchGAN critic."""
