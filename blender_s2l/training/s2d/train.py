"""S2D training loop: random ICT identities and re-topologies, time-budgeted and resumable.

Each step takes one mesh variant, a random subset of its vertices (mouth-heavy) and a batch of
expression mixtures with upper and lower face drawn independently. The model sees the combined
motion and each half alone; the cross term asks that upper-face landmark motion leave the mouth
exactly as the truth does and lower-face motion leave brows and eyes alone (MeshTalk's point).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ...core.models.s2d import S2D, S2DConfig
from ..checkpoint import checkpoint_file, load_s2d, save_s2d
from ..ict import ICTFace, load_ict
from .data import TRAIN_ID_SEED0, FaceVariant, VertexLabels, build_variant, ict_labels
from .losses import cosine_loss, region_l2, weighted_l2
from .remesh import voronoi_remesh
from .sampling import ExpressionSampler

VAL_ID_SEED = 5000


@dataclass
class TrainSettings:
    out: str = str(checkpoint_file("s2d"))
    # Log and optimizer state live here (ignored by git), not beside the bundled weights.
    work_dir: str = "out/s2d"
    minutes: float = 45.0
    seed: int = 0
    n_identities: int = 32
    n_remeshed: int = 16
    vertices_per_step: int = 2048
    batch: int = 32
    lr: float = 1e-3
    cos_weight: float = 2.0
    cross_weight: float = 2.0
    mouth_weight: float = 3.0
    input_noise_mm: float = 0.1
    threads: int = 1
    checkpoint_minutes: float = 5.0
    config: S2DConfig | None = None
    max_steps: int | None = None


@dataclass
class _Tensors:
    feats: torch.Tensor
    deltas: torch.Tensor
    lm_deltas: torch.Tensor
    sr: torch.Tensor  # (3, 3) scale * rotation, transposed for right-multiplication
    weight: torch.Tensor
    prob: torch.Tensor
    mouth: torch.Tensor
    upper: torch.Tensor


def _tensors(
    v: FaceVariant, mouth_weight: float, shared: dict[int, torch.Tensor]
) -> _Tensors:
    key = id(v.deltas)
    if key not in shared:
        shared[key] = torch.from_numpy(np.ascontiguousarray(v.deltas))
    lab = v.labels
    mouth = torch.from_numpy(lab.mouth)
    prob = 0.2 + torch.from_numpy(lab.face).float() + 2.0 * mouth.float()
    return _Tensors(
        feats=torch.from_numpy(v.features),
        deltas=shared[key],
        lm_deltas=torch.from_numpy(np.ascontiguousarray(v.lm_deltas)),
        sr=torch.from_numpy((v.scale * v.rotation).T.astype(np.float32)),
        weight=1.0 + mouth_weight * mouth.float(),
        prob=prob / prob.sum(),
        mouth=mouth,
        upper=torch.from_numpy(lab.upper),
    )


def build_training_set(
    ict: ICTFace, labels: VertexLabels, n_identities: int, n_remeshed: int, seed: int
) -> list[FaceVariant]:
    """ICT topology for every identity plus Voronoi re-topologies (3-6 mm cells) of some."""
    rng = np.random.default_rng(seed + 77)
    variants = [
        build_variant(ict, TRAIN_ID_SEED0 + i, labels) for i in range(n_identities)
    ]
    for _ in range(n_remeshed):
        pattern = voronoi_remesh(ict.neutral, ict.faces, float(rng.uniform(3.0, 6.0)), rng)
        id_seed = TRAIN_ID_SEED0 + int(rng.integers(n_identities))
        variants.append(build_variant(ict, id_seed, labels, pattern))
    return variants


class Trainer:
    def __init__(
        self,
        settings: TrainSettings,
        variants: list[FaceVariant],
        val: FaceVariant,
        expression_names: tuple[str, ...],
    ) -> None:
        self.s = settings
        torch.set_num_threads(settings.threads)
        self.sampler = ExpressionSampler(expression_names)
        self.variants = variants
        shared: dict[int, torch.Tensor] = {}
        self.data = [_tensors(v, settings.mouth_weight, shared) for v in self.variants]
        self.val = val
        vrng = np.random.default_rng(settings.seed + 999)
        up, lo = self.sampler.batch(vrng, 64)
        self.val_lm = torch.from_numpy(self.val.landmark_motion(up + lo))
        self.val_true = self.val.dense_motion(up + lo)[:, self.val.labels.face]
        self.out = Path(settings.out)
        self.log_path = Path(settings.work_dir) / "s2d_train.log"
        self.resume_path = Path(settings.work_dir) / "s2d_resume.pt"
        self.model = S2D(settings.config or S2DConfig())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        self.step = 0
        self.elapsed = 0.0
        if self.resume_path.is_file() and self.out.is_file():
            self._resume()

    @classmethod
    def from_ict(cls, settings: TrainSettings, ict: ICTFace | None = None) -> Trainer:
        ict = ict or load_ict()
        labels = ict_labels(ict)
        variants = build_training_set(
            ict, labels, settings.n_identities, settings.n_remeshed, settings.seed
        )
        val = build_variant(ict, VAL_ID_SEED, labels)
        return cls(settings, variants, val, ict.expression_names)

    def _resume(self) -> None:
        self.model = load_s2d(self.out, "cpu").train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.s.lr)
        state = torch.load(self.resume_path, map_location="cpu", weights_only=True)
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self._log({"event": "resumed", "step": self.step, "elapsed_s": self.elapsed})

    def _log(self, record: dict[str, object]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    def save(self) -> None:
        meta = {
            "steps": self.step,
            "train_seconds": round(self.elapsed, 1),
            "settings": {k: v for k, v in asdict(self.s).items() if k != "config"},
            "variants": [v.name for v in self.variants],
        }
        save_s2d(self.out, self.model, meta)
        self.resume_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {"optimizer": self.opt.state_dict(), "step": self.step, "elapsed": self.elapsed},
            self.resume_path,
        )

    def lr_at(self, frac: float) -> float:
        return self.s.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        s = self.s
        d = self.data[int(rng.integers(len(self.data)))]
        idx = torch.multinomial(d.prob, s.vertices_per_step, replacement=False)
        up, lo = (torch.from_numpy(w) for w in self.sampler.batch(rng, s.batch))
        weights = torch.cat([up + lo, up, lo])
        lm = torch.einsum("be,elc->blc", weights, d.lm_deltas) @ d.sr
        noise = torch.randn_like(lm[: s.batch]) * s.input_noise_mm
        lm = torch.cat([lm[: s.batch] + noise, lm[s.batch :]])
        true = torch.einsum("be,enc->bnc", weights, d.deltas[:, idx]) @ d.sr
        basis = self.model.mesh_basis(d.feats[idx])
        pred = torch.einsum("bj,jnc->bnc", self.model.codes(lm), basis)
        w = d.weight[idx]
        l2 = weighted_l2(pred, true, w)
        cos = cosine_loss(pred, true)
        b = s.batch
        cross = region_l2(pred[b : 2 * b], true[b : 2 * b], d.mouth[idx]) + region_l2(
            pred[2 * b :], true[2 * b :], d.upper[idx]
        )
        loss = l2 + s.cos_weight * cos + s.cross_weight * cross
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.opt.step()
        parts = {"loss": loss, "l2": l2, "cos": cos, "cross": cross}
        return {k: float(t.detach()) for k, t in parts.items()}

    @torch.no_grad()
    def validate(self) -> float:
        """Mean per-vertex error (mm) on the face region of a validation identity."""
        self.model.eval()
        feats = torch.from_numpy(self.val.features[self.val.labels.face])
        pred = self.model(feats, self.val_lm).numpy()
        self.model.train()
        return float(np.linalg.norm(pred - self.val_true, axis=-1).mean())

    def run(self) -> S2D:
        budget = self.s.minutes * 60.0
        rng = np.random.default_rng(self.s.seed + self.step)
        torch.manual_seed(self.s.seed + self.step)
        self.model.train()
        start = time.monotonic() - self.elapsed
        last_ckpt = time.monotonic()
        running: dict[str, float] = {}
        while self.elapsed < budget and (self.s.max_steps is None or self.step < self.s.max_steps):
            for g in self.opt.param_groups:
                g["lr"] = self.lr_at(self.elapsed / budget)
            parts = self.train_step(rng)
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            self.step += 1
            self.elapsed = time.monotonic() - start
            if self.step % 100 == 0:
                rec: dict[str, object] = {"step": self.step, "elapsed_s": round(self.elapsed, 1)}
                rec.update({k: round(v / 100, 4) for k, v in running.items()})
                running = {}
                if self.step % 1000 == 0:
                    rec["val_face_mm"] = round(self.validate(), 4)
                self._log(rec)
            if time.monotonic() - last_ckpt > self.s.checkpoint_minutes * 60.0:
                self.save()
                last_ckpt = time.monotonic()
        self.save()
        self._log({"event": "done", "step": self.step, "val_face_mm": self.validate()})
        return self.model.eval()
