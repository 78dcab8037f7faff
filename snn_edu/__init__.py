"""snn_edu: the switcher neural network method, for teaching and reproduction."""
from .analysis import compact, gate_categories, params_removed_pct, pruned_architecture
from .data import load_dataset
from .errors import CheckpointError, ConfigError, DataError, DivergenceError, SnnEduError
from .layers import GatedConv2d, GatedLinear, cached_gates
from .models import LeNet5, MLP, build_model
from .switcher import Switcher, switcher_spec
from .training import History, Trainer, TrainConfig, evaluate, phase_for_epoch
from .version import __version__
