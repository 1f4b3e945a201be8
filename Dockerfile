# The webhook image. Node 24 strips TypeScript types at run time, so the image
# ships the sources as they are; there is no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
USER node
ENTRYPOINT ["node", "bin/stepsplice.js"]
CMD ["serve", "--catalog", "/etc/stepsplice/catalog"]
