"""The analysis tabs: feature maps, test set, explain, robustness, embedding, layer."""
