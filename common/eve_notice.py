"""CCP's notice, shown wherever EVE's data (type, location and party names) is shown."""

from typing import Final

CCP_NOTICE: Final = (
    "EVE Online and the EVE logo are the registered trademarks of CCP hf. All rights are "
    "reserved worldwide. All other trademarks are the property of their respective owners. "
    "EVE Online, the EVE logo, EVE and all associated logos and designs are the intellectual "
    "property of CCP hf. All artwork, screenshots, characters, vehicles, storylines, world "
    "facts or other recognizable features of the intellectual property relating to these "
    "trademarks are likewise the intellectual property of CCP hf. CCP hf. has granted "
    "permission to Hangar Bay to use EVE Online and all associated logos and designs for "
    "promotional and information purposes but does not endorse, and is not in any way "
    "affiliated with, Hangar Bay. CCP is in no way responsible for the content on or "
    "functioning of this application, nor can it be liable for any damage arising from its use."
)
