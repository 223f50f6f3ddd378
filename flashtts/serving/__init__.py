"""The serving layer, split by job: voices, planning, execution, roles.

Routes stay thin: they parse their protocol's model, resolve the voice, call
:meth:`SpeechService.plan` (which validates everything before any byte is sent), then hand the plan
to a response builder (:mod:`flashtts.http.responses`).
"""

from flashtts.serving.admission import Ticket
from flashtts.serving.plans import Disconnected, Plan, Utterance, VoiceChoice
from flashtts.serving.roles import RoleService
from flashtts.serving.service import SpeechService
from flashtts.serving.voices import OPENAI_VOICES

__all__ = ["OPENAI_VOICES", "Disconnected", "Plan", "RoleService", "SpeechService", "Ticket", "Utterance",
           "VoiceChoice"]
