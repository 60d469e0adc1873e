"""Looking inside the weights: predictor, feature maps, kernels, attribution, probes, embedding."""
