// placeholder for the build skeleton; replaced by the implementation
