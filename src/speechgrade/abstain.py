"""When not to trust a score: rules over the `screen` measures that flag a clip with a reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class AbstainRules:
    """Thresholds on `screen` measures; a clip that breaks one is flagged (its score is still given)."""

    min_snr_db: float = 8.0  # loud frames over the noise floor; about 0 dB true SNR for speech in white noise
    min_voiced_share: float = 0.15  # voiced / speech time: speech is ~0.3-0.9, broadband noise ~0
    min_voiced_s: float = 0.25  # set from the training clips by `fit`
    # Whisper base gave real accented English (the sample's short read sentences) English probabilities
    # from 0.03 up (median 0.56), so only a near-zero probability says "not English"
    min_english_prob: float = 0.01
    language: str | None = None  # Whisper model for the English check (None: no check)

    def fit(self, screen: pd.DataFrame) -> "AbstainRules":
        """Set `min_voiced_s` to half the 1st percentile of the training clips' voiced time (at least 0.25 s):
        a clip with far less speech than any clip the model learned from is out of its range."""
        voiced = screen["voiced_s"].dropna().to_numpy(np.float64)
        if len(voiced):
            self.min_voiced_s = round(max(0.25, 0.5 * float(np.percentile(voiced, 1))), 3)
        return self

    def reasons(self, screen: pd.DataFrame) -> pd.Series:
        """The first rule each row breaks, as a readable reason, or None."""
        out = pd.Series(None, index=screen.index, dtype=object)
        checks = [
            (screen["snr_db"] < self.min_snr_db,
             lambda r: f"mostly noise (speech {r.snr_db:.1f} dB over the noise floor < {self.min_snr_db:g})"),
            (screen["voiced_share"] < self.min_voiced_share,
             lambda r: f"mostly noise ({r.voiced_share:.0%} of the sound is voiced < {self.min_voiced_share:.0%})"),
            (screen["voiced_s"] < self.min_voiced_s,
             lambda r: f"too little speech ({r.voiced_s:.1f} s voiced < {self.min_voiced_s:g} s)"),
            (screen["english_prob"] < self.min_english_prob,  # NaN (no check) compares False
             lambda r: f"not English (English probability {r.english_prob:.2f} < {self.min_english_prob:g})"),
        ]
        for broken, say in checks:
            todo = broken & out.isna()
            for name, row in screen[todo].iterrows():
                out[name] = say(row)
        return out.where(out.notna(), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for the bundle)."""
        return asdict(self)


def language_model(featurizers: list) -> str | None:
    """The Whisper model a scorer already uses (so the English check costs no new model), if any."""
    return next((m for m in (f.language_model() for f in featurizers) if m), None)
