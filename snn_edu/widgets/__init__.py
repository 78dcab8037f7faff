"""Interactive panels, one module per teaching topic. Each panel is a thin ipywidgets shell
(`panel.build`) around a pure function that takes plain values and returns a matplotlib Figure,
so tests call the function directly. Every name is importable from `snn_edu.widgets` as before."""
from . import panel
from .frontier_panels import frontier_explorer, frontier_figure, joint_image_figure, peers_explorer, peers_figure
from .gradient_panels import explorer_weights, gradient_explorer, gradient_figure
from .kernel_panels import (DIGIT_CHOICES, KERNEL_ROWS, MAP_KINDS, fig3_figure, fill_can_act, kernel_explorer,
                            kernel_explorer_figure, pixel_maps_figure, ranking_scatter_figure)
from .mask_panels import (NO_IMAGE, compare_runs, compare_runs_figure, mask_figure, mask_inspector, threshold_explorer,
                          threshold_figure)
from .panel import FIGURE_HEIGHT, OUTPUT_HEIGHT
from .peer_panels import peer_masks, peer_masks_figure
from .task_panels import category_counts_figure, input_gates_figure, task_masks, task_masks_figure

__all__ = ["panel", "FIGURE_HEIGHT", "OUTPUT_HEIGHT", "NO_IMAGE", "MAP_KINDS", "DIGIT_CHOICES", "KERNEL_ROWS",
           "mask_figure", "mask_inspector", "compare_runs", "compare_runs_figure", "threshold_figure",
           "threshold_explorer", "gradient_figure", "gradient_explorer", "explorer_weights", "frontier_figure",
           "frontier_explorer", "peers_figure", "peers_explorer", "joint_image_figure", "peer_masks_figure",
           "peer_masks", "input_gates_figure", "category_counts_figure", "task_masks_figure", "task_masks",
           "fig3_figure", "ranking_scatter_figure", "pixel_maps_figure", "kernel_explorer_figure", "kernel_explorer",
           "fill_can_act"]
