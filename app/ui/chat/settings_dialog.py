"""Settings: which model answers (the embedded 0.5B default, the larger embedded 1.5B model, a local
Hugging Face folder, a local .gguf file), on which device, and how long and how adventurous its
replies are. Each embedded model shows its size, and its speed and memory as measured on this
machine (learner.engine.figures), or that they were not measured here yet.

Stored as one JSON setting, "generation" (learner.settings.save_generation_settings). The main window applies a
change at once: a new model source or device reloads the model in the background; the generation
parameters take effect with the next message.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget,
)

from learner.errors import LearnerError
from learner.settings import DEVICES, DTYPES, MAX_NEW_TOKENS_LIMIT, MAX_TEMPERATURE, GenerationSettings
from learner.sources import DEFAULT_SPEC, EMBEDDED_MODELS, LARGER_SPEC, EmbeddedModel, check_installed, missing_packages
from storage import DataDir

SOURCE_DEFAULT, SOURCE_FOLDER, SOURCE_GGUF, SOURCE_LARGER = 0, 1, 2, 3
EMBEDDED_SOURCES = {SOURCE_DEFAULT: DEFAULT_SPEC, SOURCE_LARGER: LARGER_SPEC}


DTYPE_LABELS = {"auto": "Automatic (fastest for the device)", "bfloat16": "Compact (16-bit)",
                "float16": "Compact, for older GPUs (16-bit)", "float32": "Exact (32-bit, slower)"}


ENGINE_LABELS = {"auto": "Automatic (llama.cpp for GGUF models where it is installed)",
                 "llama.cpp": "llama.cpp (fast; the embedded model or a .gguf file)",
                 "transformers": "transformers (slower; any model, GPUs through PyTorch)"}


def engine_status() -> str:
    """One line for the engine choice's tooltip: whether llama.cpp can run here, and the fix if not."""
    from learner.engine.llama_cpp_engine import available

    problem = available()
    return "llama.cpp is installed: GGUF models are served directly, about 3× faster than transformers." \
        if problem is None else problem


def embedded_model_line(model: EmbeddedModel, data_folder: Path | None) -> str:
    """What an embedded model costs here: its size, then its measured speed and memory, or how to
    install it when its packages are missing."""
    from learner.engine.figures import describe, figures_for

    size = f"{model.size / 1e9:.1f} GB"
    if missing_packages(model):
        return f"{size}, not installed: run {model.install_command} (once) to add it."
    figures = figures_for(DataDir(data_folder), model.model_id) if data_folder is not None else None
    return f"{size} · {describe(figures)}"


def available_devices() -> tuple[str, ...]:
    """'auto', 'cpu' and the GPUs this machine has. torch is already loaded by the model worker
    when Settings opens; without it only the CPU is offered."""
    import sys

    torch = sys.modules.get("torch")
    found = ["auto", "cpu"]
    if torch is not None:
        if torch.cuda.is_available():
            found.append("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.append("mps")
    return tuple(d for d in DEVICES if d in found)


def needs_reload(old: GenerationSettings, new: GenerationSettings) -> bool:
    """A different model or device means loading again; the rest applies to the next message."""
    return (old.model_spec, old.device, old.dtype, old.engine) != (new.model_spec, new.device, new.dtype, new.engine)


class SettingsDialog(QDialog):
    def __init__(self, settings: GenerationSettings, *, data_folder: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings — tutorloop")
        self.setMinimumWidth(560)
        self.result_settings: GenerationSettings | None = None
        layout = QVBoxLayout(self)

        source_box = QGroupBox("Model")
        source = QVBoxLayout(source_box)
        self.source_group = QButtonGroup(self)
        self.default_radio = QRadioButton("Embedded model (Qwen2.5-Coder-0.5B-Instruct, works offline)")
        self.larger_radio = QRadioButton("Embedded model, larger (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB)")
        self.larger_radio.setToolTip("Better at maths word problems; about 3× the work per reply and per "
                                     "training round. Its adapters are kept apart from the smaller model's.")
        self.folder_radio = QRadioButton("A Hugging Face model folder on this computer")
        self.gguf_radio = QRadioButton("A .gguf model file on this computer")
        self.figure_labels: dict[str, QLabel] = {}
        for index, radio in ((SOURCE_DEFAULT, self.default_radio), (SOURCE_LARGER, self.larger_radio),
                             (SOURCE_FOLDER, self.folder_radio), (SOURCE_GGUF, self.gguf_radio)):
            self.source_group.addButton(radio, index)
            source.addWidget(radio)
            if index in EMBEDDED_SOURCES:
                spec = EMBEDDED_SOURCES[index]
                line = QLabel(embedded_model_line(EMBEDDED_MODELS[spec], data_folder))
                line.setStyleSheet("color: #5f6368; margin-left: 22px;")
                line.setWordWrap(True)
                line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.figure_labels[spec] = line
                source.addWidget(line)
        path_row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Folder or file path")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        source.addLayout(path_row)
        self.source_group.idClicked.connect(lambda _id: self._update_path_row())
        layout.addWidget(source_box)

        gen_box = QGroupBox("Generation")
        form = QFormLayout(gen_box)
        self.device_combo = QComboBox()
        self.device_combo.addItems(available_devices())   # no cuda/mps on a machine without them
        self.device_combo.setToolTip("auto picks a GPU (CUDA or Apple MPS) when there is one, else the CPU.")
        self.dtype_combo = QComboBox()
        for dtype in DTYPES:   # words a teacher reads; the stored value stays the dtype's name
            self.dtype_combo.addItem(DTYPE_LABELS.get(dtype, dtype), dtype)
        self.dtype_combo.setToolTip("How precisely the model's numbers are stored. Automatic picks the faster "
                                    "one for the device; exact is slower and uses twice the memory.")
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setRange(1, MAX_NEW_TOKENS_LIMIT)
        self.max_tokens_spin.setSingleStep(64)
        self.max_tokens_spin.setSuffix(" tokens")
        self.max_tokens_spin.setToolTip("The longest reply, in tokens (about ¾ of a word each).")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setRange(0.0, MAX_TEMPERATURE)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self.temperature_spin.setToolTip("0 always picks the most likely word; higher values vary more.")
        self.engine_combo = QComboBox()
        for engine, label in ENGINE_LABELS.items():
            self.engine_combo.addItem(label, engine)
        self.engine_combo.setToolTip(engine_status())
        form.addRow("Replies served by:", self.engine_combo)
        form.addRow("Device:", self.device_combo)
        form.addRow("Number format:", self.dtype_combo)
        form.addRow("Longest reply:", self.max_tokens_spin)
        form.addRow("Temperature:", self.temperature_spin)
        layout.addWidget(gen_box)

        if data_folder is not None:
            where = QLabel(f"Data folder: {data_folder}")
            where.setStyleSheet("color: #5f6368;")
            where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(where)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.set_values(settings)

    def set_values(self, settings: GenerationSettings) -> None:
        spec = settings.model_spec
        if spec in EMBEDDED_MODELS:
            (self.larger_radio if spec == LARGER_SPEC else self.default_radio).setChecked(True)
            self.path_edit.clear()
        else:
            (self.gguf_radio if spec.lower().endswith(".gguf") else self.folder_radio).setChecked(True)
            self.path_edit.setText(spec)
        if self.device_combo.findText(settings.device) < 0:   # saved on another machine: keep it visible
            self.device_combo.addItem(settings.device)
        self.device_combo.setCurrentText(settings.device)
        self.dtype_combo.setCurrentIndex(max(0, self.dtype_combo.findData(settings.dtype)))
        self.engine_combo.setCurrentIndex(max(0, self.engine_combo.findData(settings.engine)))
        self._shown = settings
        self.max_tokens_spin.setValue(settings.max_new_tokens)
        self.temperature_spin.setValue(settings.temperature)
        self._update_path_row()

    def _update_path_row(self) -> None:
        custom = self.source_group.checkedId() not in EMBEDDED_SOURCES
        self.path_edit.setEnabled(custom)
        self.browse_button.setEnabled(custom)

    @Slot()
    def _browse(self) -> None:
        start = self.path_edit.text() or str(Path.home())
        if self.source_group.checkedId() == SOURCE_GGUF:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a .gguf model file", start,
                                                  "GGUF models (*.gguf);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder", start)
        if path:
            self.path_edit.setText(path)

    def chosen_settings(self) -> GenerationSettings:
        """The settings on screen; raises ValueError naming what is wrong."""
        source = self.source_group.checkedId()
        if source in EMBEDDED_SOURCES:
            spec = EMBEDDED_SOURCES[source]
            try:
                check_installed(EMBEDDED_MODELS[spec])
            except LearnerError as exc:   # its packages are optional: say which command adds them
                raise ValueError(str(exc)) from exc
        else:
            spec = self.path_edit.text().strip()
            if not spec:
                raise ValueError("Choose a model folder or file, or pick the embedded model.")
            path = Path(spec).expanduser()
            if source == SOURCE_GGUF and not path.is_file():
                raise ValueError(f"There is no file at {path}. Choose an existing .gguf file.")
            if source == SOURCE_FOLDER and not path.is_dir():
                raise ValueError(f"There is no folder at {path}. Choose a folder that holds config.json "
                                 "and the model's .safetensors files.")
            spec = str(path)
        # replace(): settings this dialog does not show (word_problem_programs) are kept as they were.
        return replace(
            self._shown, model_spec=spec, device=self.device_combo.currentText(),
            dtype=self.dtype_combo.currentData(), engine=self.engine_combo.currentData(),
            max_new_tokens=self.max_tokens_spin.value(), temperature=round(self.temperature_spin.value(), 2),
        )

    @Slot()
    def _on_save(self) -> None:
        try:
            self.result_settings = self.chosen_settings()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()
