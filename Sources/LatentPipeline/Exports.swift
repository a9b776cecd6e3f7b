// The pipeline's public API speaks in these modules' types (requests name schedulers, results hold images).
@_exported import LatentImageIO
@_exported import LatentSchedulers
