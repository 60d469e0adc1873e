"""Drawings, photos and files turned into the tensor the weights expect."""
