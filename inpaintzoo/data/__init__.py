"""Datasets, masks and augmentation."""
