# syntax=docker/dockerfile:1
# podcount: a bundled Node 24 function on a distroless, non-root runtime.
#   docker build -t registry.example.com/podcount:0.1.0 .
# Base images are arguments; pin them by digest in your registry mirror for reproducible builds,
# e.g. --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:...
ARG BUILD_IMAGE=docker.io/library/node:24-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies (esbuild, TypeScript) are needed to build; none of them reach the runtime stage.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY function ./function
RUN npm run build

FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# The bundle is self-contained (esbuild inlines every dependency): no node_modules at runtime.
COPY --from=build /app/dist ./dist
# Prebuild V8's code cache with this image's own Node, so every cold start skips compiling the bundle.
RUN ["/nodejs/bin/node", "dist/main.mjs", "--prepare-cache"]
# distroless' nonroot user, numerically, so runAsNonRoot can be verified by the kubelet.
USER 65532:65532
EXPOSE 8080
# The distroless entrypoint is node: this is `node --max-semi-space-size=2 dist/main.mjs`, exactly
# what `npm start` runs. The small young generation keeps peak RSS flat while counts page (bench/).
CMD ["--max-semi-space-size=2", "dist/main.mjs"]
