# syntax=docker/dockerfile:1
# podcount: a bundled Node 24 function on a distroless, non-root runtime.
#   docker build -t registry.example.com/podcount:0.1.0 .
# Base images are arguments; pin them by digest in your registry mirror for reproducible builds,
# e.g. --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:...
# (Debian 13 "trixie" in both stages; distroless' Debian 12 Node images reached end of life.)
ARG BUILD_IMAGE=docker.io/library/node:24-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies (esbuild, TypeScript) are needed to build; none of them reach the runtime stage.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY function ./function
# The bundle inlines every dependency (no node_modules at runtime). /app/cache holds an empty
# .compile-cache folder that the runtime stage hands to the runtime user (below).
RUN npm run build && mkdir -p /app/cache/.compile-cache

FROM ${RUNTIME_IMAGE}
# The code belongs to root: the process cannot rewrite itself. WORKDIR creates /app as the current
# user, and the distroless base's is nonroot: root makes /app (COPY makes dist/ root's anyway).
USER 0:0
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/dist ./dist
# V8's code cache for the bundle (~5 ms off every cold start). Node keeps it in a folder named
# after the uid that wrote it (dist/.compile-cache/v24.x-x64-<hash>-65532/) and reads only its
# own, so the runtime user must write it: the cache folder is the one thing 65532 owns. Written
# once here, with the exact start command; read-only at run time (readOnlyRootFilesystem).
COPY --from=build --chown=65532:65532 /app/cache/ ./dist/
# distroless' nonroot user, numerically, so runAsNonRoot can be verified by the kubelet.
USER 65532:65532
RUN ["/nodejs/bin/node", "--max-semi-space-size=2", "dist/main.mjs", "--prepare-cache"]
EXPOSE 8080
# The distroless entrypoint is node: this is `node --max-semi-space-size=2 dist/main.mjs`, exactly
# what `npm start` runs. The small young generation keeps peak RSS flat while counts page (bench/).
CMD ["--max-semi-space-size=2", "dist/main.mjs"]
