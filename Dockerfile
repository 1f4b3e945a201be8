# The webhook image. Node 24 strips TypeScript types at run time, so the image
# ships the sources as they are; there is no build step.
#
# Production dependencies only: the `node` devDependency (Node 24 for
# developers) is left out, and bin/stepsplice.js runs on the base image's
# Node 24. .dockerignore keeps keys, node_modules and tests out of the context.
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
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Numeric, so the kubelet can check runAsNonRoot; the Deployment's runAsUser is the same.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "bin/stepsplice.js"]
CMD ["serve", "--kube", "--metrics-port=9090", "--tls-cert=/etc/stepsplice/tls/tls.crt", "--tls-key=/etc/stepsplice/tls/tls.key"]
