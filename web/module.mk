# web/: the SCADA dashboard and the WebXR hologram client (npm + esbuild).
web:
