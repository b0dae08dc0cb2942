"""Occupancy Networks: 3D reconstruction as the decision boundary of a learned occupancy field."""
