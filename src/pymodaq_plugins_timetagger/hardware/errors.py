"""Typed errors of the access layer. Each message names the address or setting that was wrong."""


class TaggerError(RuntimeError):
    """Base class of the Time Tagger errors raised by this package."""


class AddressError(TaggerError, ValueError):
    """A tagger address string that cannot be understood."""


class VendorLibraryMissing(TaggerError):
    """The vendor's Time Tagger library is not installed (neither the wheel nor the installer's)."""


class VendorLibraryBroken(VendorLibraryMissing):
    """The vendor's library is installed but does not load ("DLL load failed"): the vendor's message says why."""


class TaggerOpenError(TaggerError):
    """The Time Tagger at an address could not be opened (the vendor's message is included)."""


class MeasurementTimeout(TaggerError):
    """An acquisition did not finish within its timeout."""


class VendorError(TaggerError):
    """The vendor library (or a backend standing for it) raised an exception of its own; its message is kept."""


class SettingsError(TaggerError, ValueError):
    """A measurement setting out of its limits or of the wrong type; the message names the setting."""


class AcquisitionAborted(TaggerError):
    """The acquisition was stopped (``Run.abort`` or the caller's stop event) before its window ended."""
