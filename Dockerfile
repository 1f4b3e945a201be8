# The webhook image: the compiled package (dist/, as `npm run build` makes it
# for npm), not the TypeScript sources. Node 24 could strip the types at each
# start, but the stripper (a WebAssembly module) holds about 18 MB of every
# replica's memory for the process's life, and startup would type-strip every
# module again (docs/benchmarks.md).
#
# Production dependencies only in the image: the `node` devDependency (Node
# 24 for developers) and the compiler stay in the build stage, and
# bin/stepsplice.js runs dist/ on the base image's Node 24. .dockerignore
# keeps keys, node_modules and tests out of the context.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
# git fetches remote step definitions (Tekton's git resolver form); nothing else is added.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# V8 sizes the young generation by the node's memory, not the container's use of it: on a large node
# it grows past 100 MB while the catalog loads and is never given back. 8 MB semi-spaces keep the
# server's memory to what it holds (docs/benchmarks.md); admission workers get the same (server/pool.ts).
ENV NODE_OPTIONS=--max-semi-space-size=8
# glibc gives each thread that allocates an arena of its own (up to 8 per core), and memory freed in
# one is kept there: Node's libuv, V8 and admission threads left 10 MB of RSS held that way after a
# catalog of 10,000 loaded. Two arenas measured no slower (docs/benchmarks.md).
ENV MALLOC_ARENA_MAX=2
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin/stepsplice.js ./bin/
COPY --from=build /app/dist ./dist
# Numeric, so the kubelet can check runAsNonRoot; the Deployment's runAsUser is the same.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "bin/stepsplice.js"]
CMD ["serve", "--kube", "--metrics-port=9090", "--tls-cert=/etc/stepsplice/tls/tls.crt", "--tls-key=/etc/stepsplice/tls/tls.key"]
